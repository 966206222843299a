"""`stampede compare --sdk` with two real agent-client-protocol releases, side by side.

Each variant's server runs in that release's cached venv under the session scenario's health
checker: summary.json must name the variants by package and version, flag 0.8.1 (run_agent
never closes its connection) and clear 0.12.1 (fixed in 0.11.0).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from stampede.loadtest.targets.sdk_envs import ensure_env, parse_spec

from tests.serverproc import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

LEAKY, FIXED = "agent-client-protocol==0.8.1", "agent-client-protocol==0.12.1"


def test_compare_sdk_flags_the_leaky_release_and_clears_the_fix(tmp_path: Path) -> None:
    for spec in (LEAKY, FIXED):  # build outside the timed run if this machine has not yet
        ensure_env(parse_spec(spec), print)
    out = tmp_path / "results"
    argv = [sys.executable, "-m", "stampede", "compare", "--scenario", "session"]
    argv += ["--sdk", f"{LEAKY},{FIXED}", "--duration", "3", "--users", "4"]
    argv += ["--out", str(out), "--no-progress", "--no-plots"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (path,) = [p for p in out.glob("*/summary.json") if not p.parent.is_symlink()]  # not latest
    summary = json.loads(path.read_text())
    assert summary["complete"] is True
    assert list(summary["variants"]) == [LEAKY, FIXED]
    assert summary["settings"]["sdk"] == [LEAKY, FIXED]
    leaky, fixed = summary["variants"][LEAKY], summary["variants"][FIXED]
    for variant in (leaky, fixed):
        assert variant["error"] is None
        assert variant["server_settings"]["session_impl"] == "acp"
        assert variant["hazard"]["triggers"] > 0
    assert leaky["hazard"]["result"] == "flagged", summary["verdict"]
    # Two orphaned tasks per check: destroyed by gc (reported) or not yet collected.
    orphans = leaky["loop_errors"]["task_destroyed_pending"] + leaky["leaked_tasks"]
    assert orphans >= 1.8 * leaky["hazard"]["triggers"]
    assert fixed["hazard"]["result"] == "clean", summary["verdict"]
    assert not any(fixed["loop_errors"].values()) and fixed["leaked_tasks"] == 0
    assert any(line.startswith(f"{LEAKY} FLAGGED") for line in summary["verdict"])
    assert any(line.startswith(f"{FIXED} clean") for line in summary["verdict"])
    report = (path.parent / "report.md").read_text()
    assert LEAKY in report and FIXED in report


BUGGY, FIXED_CLAUDE = "claude-agent-sdk==0.1.50", "claude-agent-sdk==0.1.51"


def test_compare_claude_agent_sdk_flags_0_1_50_by_pattern(tmp_path: Path) -> None:
    """The plain command (no pattern option) flags 0.1.50 under break and flag, and clears
    0.1.51 under every pattern; the client hanging up (relay) is clean on both."""
    for spec in (BUGGY, FIXED_CLAUDE):
        ensure_env(parse_spec(spec), print)
    out = tmp_path / "results"
    argv = [sys.executable, "-m", "stampede", "compare", "--sdk", f"{BUGGY},{FIXED_CLAUDE}"]
    argv += ["--duration", "3", "--users", "4", "--out", str(out), "--no-progress", "--no-plots"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (path,) = [p for p in out.glob("*/summary.json") if not p.parent.is_symlink()]
    summary = json.loads(path.read_text())
    assert summary["scenario"] == "stream" and summary["complete"] is True
    assert list(summary["variants"]) == [BUGGY, FIXED_CLAUDE]
    buggy, fixed = summary["variants"][BUGGY], summary["variants"][FIXED_CLAUDE]
    assert buggy["sdk"] == "claude-agent-sdk 0.1.50" and fixed["sdk"] == "claude-agent-sdk 0.1.51"
    assert buggy["hazard"]["result"] == "flagged" and fixed["hazard"]["result"] == "clean"
    for name in ("relay", "break", "flag", "cancel"):
        b, f = buggy["consume"]["patterns"][name], fixed["consume"]["patterns"][name]
        assert b["dropped"] > 0 and f["dropped"] > 0, (name, b, f)
        assert f["result"] == "clean", (name, f)
        if name in ("break", "flag"):
            assert b["result"] == "flagged"
            assert b["per_dropped_stream"]["cancel_scope"] >= 0.9, (name, b)
        else:
            assert b["result"] == "clean", (name, b)
    assert any(line.startswith(f"{BUGGY} FLAGGED") for line in summary["verdict"])
    assert any(line.startswith(f"{FIXED_CLAUDE} clean") for line in summary["verdict"])
    # What the client sees: 0.1.50's leaked scope cuts every `break` stream short.
    for spec, v in ((BUGGY, buggy), (FIXED_CLAUDE, fixed)):
        broken = v["requests"]["by_name"][f"{spec}:stream [server break after 3]"]
        assert broken["failed"] == (broken["requests"] if spec == BUGGY else 0), broken
    report = (path.parent / "report.md").read_text()
    assert "## Consumption patterns" in report
    assert "relay (the client hangs up) cannot trigger it on any release" in report
