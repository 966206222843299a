"""`stampede compare` on the thread-limiter, slot-release and shared-agent hazards.

For each: the built-in server's bug is flagged and its fix cleared, and the example app (no
Stampede code in it) in its buggy and fixed form is classified right black-box (a command
target) and with `stampede.probe.install(app)` (examples/probed.py), with the evidence named.
Short storms; one compare per family for the built-in pair and one for the four targets.
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

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
STORM = ["--duration", "6", "--grace", "1"]


def compare(out: Path, scenario: str, users: int, extra: list[str]) -> dict[str, Any]:
    argv = [sys.executable, "-m", "stampede", "compare", "--scenario", scenario, *STORM]
    argv += ["--users", str(users), "--out", str(out), "--no-progress", "--wait", "300", *extra]
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
        found.update(_block(summary, scenario))
        found["verdict"] += summary["verdict"]
    return found


def builtin_(tmp: Path, scenario: str, users: int, impls: list[str]) -> dict[str, Any]:
    return each(tmp, scenario, users, {impl: ["--variants", impl] for impl in impls})


def examples(tmp: Path, scenario: str, users: int, module: str, factory: str) -> dict[str, Any]:
    """The example's buggy and fixed forms, black-box and probed, as command targets."""
    forms = {
        "buggy": f"uvicorn examples.{module}:app --port {{port}}",
        "fixed": f"uvicorn examples.{module}:fixed_app --port {{port}}",
        "probed_buggy": f"uvicorn --factory examples.probed:{factory}_app --port {{port}}",
        "probed_fixed": f"uvicorn --factory examples.probed:{factory}_fixed --port {{port}}",
    }
    runs = {
        name: ["--stall-seconds", "2", "--target", f"{name}={command}"]
        for name, command in forms.items()
    }
    return each(tmp, scenario, users, runs)


def _block(summary: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    return {name: v[key] for name, v in summary["variants"].items()}


@pytest.mark.skipif(py_spy() is None, reason="py-spy is a dependency but not installed here")
def test_thread_limiter(tmp_path: Path) -> None:
    builtin = builtin_(tmp_path / "b", "thread_limiter", 8, ["sync_wait", "async_wait"])
    assert (builtin["sync_wait"]["finding"], builtin["sync_wait"]["evidence"]) == (
        "wedged",
        "exact",
    )
    assert builtin["sync_wait"]["peak_borrowed"] == builtin["sync_wait"]["tokens_total"] == 40
    assert builtin["sync_wait"]["sync_health"]["finding"] == "failing"
    assert builtin["async_wait"]["finding"] == "clean"
    assert builtin["async_wait"]["sync_health"]["finding"] == "answering"

    found = examples(tmp_path, "thread_limiter", 8, "thread_limiter_app", "thread_limiter")
    assert (found["buggy"]["finding"], found["buggy"]["evidence"]) == ("wedged", "stacks")
    assert found["buggy"]["anyio_parked"] == found["buggy"]["anyio_threads"] >= 40
    assert (found["probed_buggy"]["finding"], found["probed_buggy"]["evidence"]) == (
        "wedged",
        "exact",
    )
    assert found["buggy"]["sync_health"]["finding"] == "failing"
    for name in ("fixed", "probed_fixed"):
        assert found[name]["finding"] == "clean", (name, found["verdict"])
    assert found["probed_fixed"]["evidence"] == "exact"
    assert "AnyIO worker threads parked" in "\n".join(found["verdict"])


def test_slot_release(tmp_path: Path) -> None:
    builtin = builtin_(tmp_path / "b", "slot_release", 4, ["release_on_return", "release_finally"])
    leak, fixed = builtin["release_on_return"], builtin["release_finally"]
    assert (leak["finding"], leak["evidence"]) == ("leaking", "exact")
    assert leak["idle"] >= 3 and leak["idle_intervals"] >= 3
    assert (fixed["finding"], fixed["total"]) == ("clean", 0)

    found = examples(tmp_path, "slot_release", 4, "slot_limiter", "slot_limiter")
    assert (found["buggy"]["finding"], found["buggy"]["evidence"]) == ("leaking", "clients")
    assert found["buggy"]["idle"] >= 3
    assert (found["probed_buggy"]["finding"], found["probed_buggy"]["evidence"]) == (
        "leaking",
        "exact",
    )
    for name in ("fixed", "probed_fixed"):
        assert (found[name]["finding"], found[name]["total"]) == ("clean", 0), name


def test_shared_agent(tmp_path: Path) -> None:
    builtin = builtin_(tmp_path / "b", "shared_agent", 1, ["shared", "per_session", "locked"])
    raced = builtin["shared"]
    assert raced["finding"] == "failing" and raced["only_on_overlap"]
    assert raced["before"]["failed"] == 0 and raced["overlap_faults"] > 0
    assert raced["broken_for_good"] and raced["corrupted_answers"] > 0
    assert builtin["per_session"]["finding"] == "clean"
    assert builtin["locked"]["finding"] == "refusing"
    assert builtin["locked"]["overlap_conflicts"] > 0 and builtin["locked"]["overlap_faults"] == 0

    found = examples(tmp_path, "shared_agent", 1, "shared_agent_app", "shared_agent")
    for name in ("buggy", "probed_buggy"):
        assert found[name]["finding"] == "failing" and found[name]["only_on_overlap"], name
    for name in ("fixed", "probed_fixed"):
        assert found[name]["finding"] == "clean", name
        assert found[name]["overlap"]["requests"] > 0
