"""Leaks beyond tasks: a thread per request that never ends, seen from outside the process.

examples/session_workers.py starts a heartbeat thread per invocation and never stops it (its
`fixed_app` stops it in `finally`). One compare run storms both as unprobed command targets:
the bug is leaking with black-box evidence and its thread counts, the fix is healthy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.serverproc import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out: Path = tmp_path_factory.mktemp("resource-leaks")
    argv = [sys.executable, "-m", "stampede", "compare", "--duration", "3", "--users", "4"]
    argv += ["--duplicates", "1", "--stall-seconds", "2", "--grace", "1", "--out", str(out)]
    argv += ["--think-time", "0.05", "--no-progress", "--wait", "120"]
    for name, app in (("workers", "app"), ("fixed", "fixed_app")):
        argv += ["--target", f"{name}=uvicorn examples.session_workers:{app} --port {{port}}"]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=230)
    result = json.loads((out / "latest" / "summary.json").read_text())
    assert result["complete"], proc.stdout[-2000:] + proc.stderr[-2000:]
    return result


def test_a_thread_per_request_left_running_is_leaking_black_box(summary: dict) -> None:
    v = summary["variants"]["workers"]
    state, threads = v["state"], v["resources"]["threads"]
    assert state["state"] == "leaking", summary["verdict"]
    assert state["evidence"] == "black-box" and "threads left after draining" in state["label"]
    # One thread per answered request is still there (less the few the start-up had).
    assert threads["held"] >= v["requests"]["ok"] * 0.9, threads
    claim = next(c for c in state["claims"] if "threads left after draining" in c["text"])
    assert claim["evidence"] == "black-box"
    assert f"{threads['start']} at start" in claim["text"]
    assert any("threads left after draining" in line for line in summary["verdict"])


def test_the_fix_that_stops_its_threads_is_healthy(summary: dict) -> None:
    v = summary["variants"]["fixed"]
    assert v["state"]["state"] == "healthy", summary["verdict"]
    assert v["resources"]["leaking"] == [] and v["resources"]["threads"]["held"] < 16
    assert v["requests"]["ok"] > 0
