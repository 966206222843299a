"""`stampede diff` on two saved summaries: table, verdict, JSON, tolerance, exit codes."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from stampede.loadtest.cli import main

BEFORE = {
    "run_id": "run-a",
    "variants": {
        "future": {
            "wedged": False,
            "leaked_tasks": 0,
            "intents": {
                "goodput_per_s": 5.0,
                "success_ratio": 1.0,
                "attempts_per_intent": 6.0,
                "latency_ms": {"p50": 1000.0, "p95": 1200.0, "p99": 1500.0},
            },
        }
    },
}


def save(tmp_path: Path, name: str, summary: dict) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def after(**intents: float) -> dict:
    summary = copy.deepcopy(BEFORE)
    summary["run_id"] = "run-b"
    summary["variants"]["future"]["intents"].update(intents)
    return summary


def test_regression_beyond_tolerance_exits_1(tmp_path: Path, capsys) -> None:
    a = save(tmp_path, "a", BEFORE)
    b = save(tmp_path, "b", after(goodput_per_s=4.0, attempts_per_intent=6.3))
    assert main(["diff", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    table = {tuple(line.split()[:2]): line.split()[2:] for line in out.splitlines()[4:]}
    assert table[("future", "goodput")] == ["5", "4", "-20.0%", "regressed"]
    # 6.0 -> 6.3 attempts is within the 10% tolerance
    assert table[("future", "amplification")] == ["6", "6.3", "+5.0%", "same"]
    assert out.strip().endswith(
        "B regressed against A in 1 figure(s): future goodput 5 -> 4 (-20.0%)."
    )
    # A looser tolerance lets the same change through.
    assert main(["diff", str(a), str(b), "--tolerance", "25%"]) == 0


def test_improvement_and_json(tmp_path: Path, capsys) -> None:
    a = save(tmp_path, "a", BEFORE)
    b = save(tmp_path, "b", after(goodput_per_s=6.0))
    assert main(["diff", str(a / "summary.json"), str(b / "summary.json"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["regressed"] is False and data["a"] == "run-a" and data["b"] == "run-b"
    row = next(r for r in data["rows"] if r["figure"] == "goodput")
    assert (row["a"], row["b"], row["change_pct"], row["verdict"]) == (5.0, 6.0, 20.0, "improved")
    assert data["verdict"].startswith("No regression beyond 10%: 1 figure(s) improved")


def test_a_figure_b_lost_or_a_new_wedge_is_a_regression(tmp_path: Path, capsys) -> None:
    b_summary = after()
    del b_summary["variants"]["future"]["intents"]["latency_ms"]
    b_summary["variants"]["future"]["wedged"] = True
    a, b = save(tmp_path, "a", BEFORE), save(tmp_path, "b", b_summary)
    assert main(["diff", str(a), str(b), "--json"]) == 1
    rows = {r["figure"]: r["verdict"] for r in json.loads(capsys.readouterr().out)["rows"]}
    assert rows["wedged"] == "regressed" and rows["intent_p99_ms"] == "not measured"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["nowhere", "nowhere"], "'nowhere': no summary.json there"),
        (["A", "A", "--tolerance", "lots"], "--tolerance 'lots': not a number"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, args: list[str], needle: str) -> None:
    save(tmp_path, "A", BEFORE)
    done = subprocess.run(
        [sys.executable, "-m", "stampede", "diff", *args],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == f"stampede diff: error: {needle}" or needle in done.stderr
    assert "Traceback" not in done.stderr


def test_states_b_only_variants_and_different_storms_are_said(tmp_path: Path, capsys) -> None:
    a_summary = copy.deepcopy(BEFORE)
    a_summary["settings"] = {"duplicates": 3, "retry_policy": "fixed", "client_timeout": 2.0}
    a_summary["variants"]["future"]["state"] = {"state": "healthy", "label": "healthy"}
    a_summary["variants"]["gone"] = copy.deepcopy(BEFORE["variants"]["future"])
    b_summary = copy.deepcopy(a_summary)
    b_summary["run_id"] = "run-b"
    b_summary["settings"]["duplicates"] = 5
    b_summary["variants"]["future"]["state"] = {"state": "failing", "label": "failing: 12% success"}
    b_summary["variants"]["added"] = b_summary["variants"].pop("gone")
    a, b = save(tmp_path, "a", a_summary), save(tmp_path, "b", b_summary)
    assert main(["diff", str(a), str(b), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    rows = {(r["variant"], r["figure"]): r for r in out["rows"]}
    assert rows[("future", "state")]["verdict"] == "regressed"
    assert rows[("added", "variant")]["verdict"] == "new"
    assert rows[("gone", "variant")]["a"] == "run"
    warning = "warning: the runs differ in --duplicates: A 3, B 5; the figures are not"
    assert out["warnings"] == [f"{warning} from the same storm"]
    assert "gone ran in A, not in B" in out["verdict"] and "was ran" not in out["verdict"]
