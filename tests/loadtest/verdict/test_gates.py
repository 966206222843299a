"""Gates: parsing, unknown figures failing, usage errors (exit 2). The exit code 1 of failed
gates on a real run is checked by the phases run (tests/e2e/test_phases.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from stampede.loadtest.cli import _parser
from stampede.loadtest.commands.compare.command import options_from_args
from stampede.loadtest.verdict.gates import evaluate, parse_gates

VARIANTS = {
    "to_thread": {"wedged": True, "leaked_tasks": 0, "intents": {"success_ratio": 0.0}},
    "future": {
        "wedged": False,
        "leaked_tasks": 0,
        "intents": {"success_ratio": 0.97, "latency_ms": {"p99": 2500.0}},
    },
}


def failed(text: str) -> list[str]:
    return [r.line() for r in evaluate(parse_gates(text), VARIANTS) if r.failed]


def test_each_gate_is_a_failure_condition_per_variant() -> None:
    assert failed("wedged") == ["gate failed: to_thread: wedged (measured yes)"]
    assert failed("!wedged") == ["gate failed: future: !wedged (measured no)"]
    assert failed("goodput_ratio<0.9") == ["gate failed: to_thread: goodput_ratio<0.9 (measured 0)"]
    assert failed("future:goodput_ratio<0.9,leaked_tasks>0") == []
    assert failed("future:intent_p99_ms>=2500") == [
        "gate failed: future: intent_p99_ms>=2500 (measured 2500)"
    ]


def test_a_figure_the_run_did_not_measure_fails_as_unknown() -> None:
    assert failed("intent_p99_ms>3000") == [
        "gate failed: to_thread: intent_p99_ms>3000 (measured unknown)"
    ]
    assert failed("nosuch:wedged") == ["gate failed: nosuch: wedged (measured unknown)"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("speed>3", "unknown figure 'speed'"),
        ("goodput_ratio<x", "'x' is not a number"),
        ("!goodput>1", "bare NAME only"),
        ("goodput_ratio=<1", "not NAME"),
        (":wedged", "empty variant"),
    ],
)
def test_bad_gates_name_themselves(text: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_gates(text)


def stampede(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stampede", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=90,
    )


def test_usage_error_exits_2_before_anything_starts(tmp_path: Path) -> None:
    done = stampede("compare", "--fail-on", "wedged,speed>3", "--out", "r", cwd=tmp_path)
    assert done.returncode == 2
    assert (
        done.stderr.strip().splitlines() == [done.stderr.strip()]
        and "stampede compare: error: --fail-on 'speed>3'" in done.stderr
    )
    assert not (tmp_path / "r").exists()


def test_a_workload_files_gates_join_the_command_lines(tmp_path: Path) -> None:
    workload = tmp_path / "api.toml"
    workload.write_text('[gates]\nfail_on = ["wedged", "future:goodput_ratio<0.95"]\n')
    args = _parser("compare").parse_args(
        ["compare", "--target", "mine=http://127.0.0.1:9", "--workload", str(workload),
         "--fail-on", "leaked_tasks>0"]
    )  # fmt: skip
    options = options_from_args(args)
    assert options.fail_on == ("leaked_tasks>0", "wedged", "future:goodput_ratio<0.95")
