"""A short real `stampede compare --scenario all`: capped servers, real Locust, real reports.

Each buggy hazard variant must come out flagged and each fixed one clean, in summary.json and
in the report. (The idempotency scenario runs too; its own assertions live with its tests.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serverproc import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def run_all(out: Path) -> dict[str, dict]:
    argv = [sys.executable, "-m", "loadtest.cli", "compare", "--scenario", "all"]
    argv += ["--duration", "3", "--users", "4", "--out", str(out), "--no-progress"]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=220)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summaries = {}
    for path in out.glob("*/summary.json"):
        summary = json.loads(path.read_text())
        assert summary["complete"], path
        summaries[summary["scenario"]] = {**summary, "dir": path.parent}
    return summaries


def test_compare_all_flags_each_buggy_variant_and_clears_each_fix(tmp_path: Path) -> None:
    runs = run_all(tmp_path / "results")
    assert set(runs) == {"idempotency", "stream", "session"}

    stream = runs["stream"]["variants"]
    buggy = stream["anyio_taskgroup"]
    assert buggy["hazard"]["result"] == "flagged", runs["stream"]["verdict"]
    assert buggy["hazard"]["triggers"] > 0
    # One error per dropped stream (a few may still be in flight at the final scrape).
    assert buggy["loop_errors"]["cancel_scope"] >= 0.9 * buggy["hazard"]["triggers"]
    for fixed in ("asyncio_tasks", "owner_task"):
        assert stream[fixed]["hazard"]["result"] == "clean", runs["stream"]["verdict"]
        assert stream[fixed]["hazard"]["triggers"] > 0
        assert not any(stream[fixed]["loop_errors"].values()), stream[fixed]["loop_errors"]

    session = runs["session"]["variants"]
    bare, closing = session["bare"], session["closing"]
    checks = bare["hazard"]["triggers"]
    assert bare["hazard"]["result"] == "flagged", runs["session"]["verdict"]
    # Two orphaned tasks per check: destroyed by gc (reported) or not yet collected (leaked).
    orphans = bare["loop_errors"]["task_destroyed_pending"] + bare["leaked_tasks"]
    assert 1.8 * checks <= orphans <= 2.2 * checks, (orphans, checks)
    assert closing["hazard"]["result"] == "clean", runs["session"]["verdict"]
    assert closing["hazard"]["triggers"] > 0
    assert not any(closing["loop_errors"].values())
    assert closing["leaked_tasks"] == 0

    for name, flagged, clean in (
        ("stream", ["anyio_taskgroup"], ["asyncio_tasks", "owner_task"]),
        ("session", ["bare"], ["closing"]),
    ):
        report = (runs[name]["dir"] / "report.html").read_text()
        verdict = runs[name]["verdict"]
        for variant in flagged:
            assert any(line.startswith(f"{variant} FLAGGED") for line in verdict), verdict
            assert f"{variant} FLAGGED" in report
        for variant in clean:
            assert any(line.startswith(f"{variant} clean") for line in verdict), verdict
            assert f"{variant} clean" in report
