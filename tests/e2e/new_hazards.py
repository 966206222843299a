"""The runs behind the thread-limiter, slot-release and shared-agent e2e tests (one file each,
so the suite's workers run them side by side).

For each: the built-in server's bug is flagged and its fix cleared, and the example app (no
Stampede code in it) in its buggy and fixed form is classified right black-box (a command
target) and with `stampede.probe.install(app)` (examples/probed.py), with the evidence named.
Short storms; one compare per variant.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.serverproc import ROOT

MARKS = [pytest.mark.slow, pytest.mark.timeout(900)]
STORM = ["--duration", "6", "--grace", "1"]


def compare(out: Path, scenario: str, users: int, extra: list[str]) -> dict[str, Any]:
    argv = [sys.executable, "-m", "stampede", "compare", "--scenario", scenario, *STORM]
    argv += ["--users", str(users), "--out", str(out), "--no-progress", "--no-plots"]
    argv += ["--wait", "300", *extra]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=230)
    summary = json.loads((out / "latest" / "summary.json").read_text())
    assert summary["complete"], proc.stdout[-2000:] + proc.stderr[-2000:]
    for name, v in summary["variants"].items():
        assert not v.get("error"), (name, v["error"], summary["verdict"])
    return summary


def each(tmp: Path, scenario: str, users: int, runs: dict[str, list[str]]) -> dict[str, Any]:
    """One compare per variant: a run's budget is duration x variants + 30 s, and on a loaded
    2-core machine one variant's start-up alone (server and Locust) can take 15 s."""
    found: dict[str, Any] = {"verdict": []}
    for name, extra in runs.items():
        summary = compare(tmp / name, scenario, users, extra)
        found.update(block(summary, scenario))
        found["verdict"] += summary["verdict"]
    return found


def builtin(
    tmp: Path, scenario: str, users: int, impls: list[str], extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    return each(tmp, scenario, users, {impl: ["--variants", impl, *extra] for impl in impls})


def examples(
    tmp: Path, scenario: str, users: int, module: str, factory: str, extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The example's buggy and fixed forms, black-box and probed, as command targets."""
    forms = {
        "buggy": f"uvicorn examples.{module}:app --port {{port}}",
        "fixed": f"uvicorn examples.{module}:fixed_app --port {{port}}",
        "probed_buggy": f"uvicorn --factory examples.probed:{factory}_app --port {{port}}",
        "probed_fixed": f"uvicorn --factory examples.probed:{factory}_fixed --port {{port}}",
    }
    runs = {
        name: ["--stall-seconds", "2", "--target", f"{name}={command}", *extra]
        for name, command in forms.items()
    }
    return each(tmp, scenario, users, runs)


def block(summary: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    return {name: v[key] for name, v in summary["variants"].items()}
