"""The loop-block, spin and state-leak detectors on the example apps, as the user's servers.

One short `stampede compare --target` per family, shared by its tests: the buggy app without
any Stampede code (black-box: pings, the idle phase, RSS and fds, py-spy) and the fixed app
with `stampede.probe.install(app)` (exact; the same storm is also decided from the outside
figures alone, the finding's `black_box`). The buggy app must be named with its hazard, the
fixed one clean, both ways. The built-in server's variants are stormed by
benchmarks/runtime_false_positives.py and the README's figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from stampede.loadtest.observe.stack_evidence import py_spy

from tests.serverproc import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
STORM = ["--duration", "3", "--users", "4"]


def compare(
    out: Path, scenario: str, targets: dict[str, str], plots: bool = False
) -> dict[str, Any]:
    """One run; drawn only where a test reads its plots (matplotlib is seconds of CPU a run)."""
    argv = [sys.executable, "-m", "stampede", "compare", "--scenario", scenario, *STORM]
    argv += ["--out", str(out), "--no-progress", "--wait", "120"]
    argv += [] if plots else ["--no-plots"]
    for name, command in targets.items():
        argv += ["--target", f"{name}={command}"]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=170)
    summary = json.loads((out / "latest" / "summary.json").read_text())
    summary["run_dir"] = (out / "latest").resolve()
    assert summary["complete"], proc.stdout[-2000:] + proc.stderr[-2000:]
    for name, v in summary["variants"].items():
        assert not v.get("error"), (name, v["error"], summary["verdict"])
    return summary


def pair(tmp: Path, scenario: str, module: str) -> dict[str, Any]:
    """The buggy app black-box and the fixed one probed, each in a run of its own: on a busy
    machine a target's start-up can take 10 s, and one per run keeps each in its budget."""
    command = f"uvicorn examples.{module}:app --port {{port}}"
    bug = compare(tmp / "bug", scenario, {"bug": command}, plots=scenario == "loop_block")
    fixed = compare(
        tmp / "fixed",
        scenario,
        {
            "fixed_probed": f"uvicorn --factory examples.probed_runtime:{module}_fixed "
            "--port {port}"
        },
    )
    bug["variants"].update(fixed["variants"])
    bug["verdict"] += fixed["verdict"]
    return bug


@pytest.fixture(scope="module")
def loop_block(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return pair(tmp_path_factory.mktemp("loop-block"), "loop_block", "sync_tool")


@pytest.fixture(scope="module")
def spin(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return pair(tmp_path_factory.mktemp("spin"), "spin", "deadline_tools")


@pytest.fixture(scope="module")
def state_leak(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return pair(tmp_path_factory.mktemp("state-leak"), "state_leak", "session_store")


def findings(summary: dict[str, Any], key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    bug, fixed = summary["variants"]["bug"][key], summary["variants"]["fixed_probed"][key]
    assert fixed["evidence"] == "exact", fixed
    return bug, fixed


def test_a_sync_tool_in_an_async_handler_is_blocking_the_loop(loop_block: dict) -> None:
    bug, fixed = findings(loop_block, "loop_block")
    assert bug["finding"] == "blocking the loop", bug
    assert bug["evidence"] in ("black-box", "stacks")
    assert bug["ping"]["p50_ms"] >= 100 and bug["ping"]["n"] >= 5
    if py_spy() is not None and bug["evidence"] == "stacks":
        assert "lookup (sync_tool.py" in bug["stacks"]["blocking_frame"]
    assert (fixed["finding"], fixed["black_box"]["finding"]) == ("clean", "clean"), fixed
    assert fixed["lag"]["blocked_share"] < 0.5 and fixed["ping"]["p50_ms"] < 100
    lines = [line for line in loop_block["verdict"] if line.startswith("bug BLOCKING THE LOOP")]
    assert lines, loop_block["verdict"]


def test_the_loop_block_report_has_its_section_and_responsiveness_plot(loop_block: dict) -> None:
    assert "plots/loop_responsiveness.png" in loop_block["scenario_plots"]
    report = (loop_block["run_dir"] / "report.md").read_text()
    assert "## Event-loop responsiveness" in report
    assert "blocking the loop" in report


def test_a_cancel_redelivered_forever_is_spinning_with_nothing_in_flight(spin: dict) -> None:
    bug, fixed = findings(spin, "spin")
    assert bug["finding"] == "spinning", bug
    assert bug["idle"]["hot_thread"]["runnable_share"] >= 0.5
    hot = bug["idle"]["hot_thread"]
    if py_spy() is not None:
        assert hot.get("stacks_file") and hot.get("frames"), hot
    if py_spy() is not None and hot.get("caught"):
        # Up to five dumps; a spinning loop is mostly in its C code between callbacks.
        assert bug["evidence"] == "stacks", bug
        assert any("Canceller._deliver" in f for f in hot["frames"]), hot
    assert (fixed["finding"], fixed["black_box"]["finding"]) == ("clean", "clean"), fixed
    assert fixed["idle"]["loop_cpu_share"] < 0.15


def test_sessions_never_reaped_are_leaking_with_a_rate(state_leak: dict) -> None:
    bug, fixed = findings(state_leak, "state_leak")
    assert (bug["finding"], bug["evidence"]) == ("leaking", "black-box"), bug
    assert "rss_bytes" in bug["leaking"] and bug["sessions"] >= 100
    # 32 KiB buffer per session: about 32 MiB per 1,000 sessions, held after the storm.
    assert bug["held_per_1000"]["rss_bytes"] >= 16 * 1024 * 1024
    assert "MiB" in bug["reason"] and "per 1,000 sessions" in bug["reason"]
    assert (fixed["finding"], fixed["black_box"]["finding"]) == ("clean", "clean"), fixed
    assert fixed["held_per_1000"]["event_loop_tasks"] < 100
