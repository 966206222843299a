"""Verdicts that are true on servers Stampede never saw: user-style apps in examples/, stormed
as command targets, two short runs shared by every test here.

- a 200 whose body comes late is no success (a client timeout), and the target is failing;
- one shared agent answering 500 under overlap is failing, and the verdict quotes the 500;
- a broker answering one at a time is "serialized: at most 1 answer in progress";
- a sync route whose duplicates park anyio's workers is wedged by its stacks, which name the
  parked workers' user frame;
- a handler on a second loop with its own executor, probed, is wedged exactly (the probe sees
  that executor too);
- a probed app that stalls without wedging is stalled, "the probe saw no wedge", with stacks.
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

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
STORM = ["--duration", "4", "--users", "4", "--stall-seconds", "2", "--grace", "1"]


def compare(out: Path, targets: dict[str, str], extra: list[str]) -> dict[str, Any]:
    argv = [sys.executable, "-m", "stampede", "compare", *STORM, "--out", str(out)]  # later wins
    argv += ["--no-progress", "--no-plots", "--wait", "120", *extra]
    for name, app in targets.items():
        argv += ["--target", f"{name}=uvicorn {app} --port {{port}}"]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=230)
    summary = json.loads((out / "latest" / "summary.json").read_text())
    assert summary["complete"], proc.stdout[-2000:] + proc.stderr[-2000:]
    return summary


# Two targets per run: a run's budget is duration x variants + 30 s, and a start-up takes
# several seconds on a busy 2-core machine.
@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Late bodies and a shared agent."""
    out = tmp_path_factory.mktemp("answers")
    targets = {"late": "examples.late_body:app", "shared": "examples.shared_agent:app"}
    return compare(out, targets, ["--client-timeout", "1.5", "--duplicates", "3"])


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """A serializing broker, and a probed app that stalls without wedging."""
    out = tmp_path_factory.mktemp("shapes")
    targets = {
        "serial": "examples.serial_broker:app",
        "slow": "--factory examples.slow_upstream:probed_app",
    }
    extra = ["--client-timeout", "5", "--duplicates", "3", "--duration", "6"]
    return compare(out, targets, extra), out / "latest"


@pytest.fixture(scope="module")
def pools(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """anyio's workers parked, and a second loop's executor wedged (probed)."""
    out = tmp_path_factory.mktemp("pools")
    targets = {
        "sync": "examples.sync_cache:app",
        "loop2": "--factory examples.worker_loop:probed_app",
    }
    # Both wedge and end early: a long duration only widens the run's budget. Twelve senders per
    # intent, more than sync_cache's 8 tokens even when a busy machine spreads their arrivals.
    extra = ["--client-timeout", "2.5", "--duration", "10", "--duplicates", "12"]
    return compare(out, targets, extra), out / "latest"


def lines(summary: dict[str, Any], name: str) -> str:
    return "\n".join(line for line in summary["verdict"] if line.startswith(f"{name}"))


def test_headers_first_body_late_is_no_success(answers: dict[str, Any]) -> None:
    late = answers["variants"]["late"]
    assert late["requests"]["ok"] == 0, late["requests"]
    assert late["requests"]["failed_by_kind"].get("client_timeout", 0) > 0
    assert late["state"]["state"] in ("failing", "stalled"), late["state"]
    text = lines(answers, "late")
    assert "successes kept coming" not in text
    assert "the body did not" in text


def test_a_shared_agent_answering_500_is_failing_with_its_500_quoted(
    answers: dict[str, Any],
) -> None:
    shared = answers["variants"]["shared"]
    kinds = shared["intents"]["failure_kinds"]
    top = kinds[0]
    assert (top["kind"], top["status"]) == ("http_error", 500)
    assert "ConcurrencyException" in top["sample"]
    # 12 attempts overlap on one agent: most get the 500.
    assert shared["state"]["success_ratio"] < 0.5
    assert shared["state"]["state"] == "failing"
    assert "HTTP 500: " in lines(answers, "shared")
    report = (Path(answers["settings"]["out"]) / "latest" / "report.md").read_text()
    assert "ConcurrencyException" in report and "success ratio" in report


def test_a_serializing_broker_is_serialized(shapes: tuple[dict[str, Any], Path]) -> None:
    serial = shapes[0]["variants"]["serial"]
    assert serial["state"]["label"] == "serialized: at most 1 answer in progress", (
        serial["state"],
        serial["intents"]["completion_shape"],
    )
    assert serial["wedged"] is False


@pytest.mark.skipif(py_spy() is None, reason="py-spy is a dependency but not installed here")
def test_duplicates_parking_anyio_workers_are_a_stacks_wedge_naming_the_frame(
    pools: tuple[dict[str, Any], Path],
) -> None:
    summary, run_dir = pools
    sync = summary["variants"]["sync"]
    assert (sync["wedged"], sync["wedge_evidence"]) == (True, "stacks"), lines(summary, "sync")
    anyio = next(p for p in sync["pools"] if p["pool"] == "anyio")
    assert anyio["wedged"] and anyio["parked"] == anyio["workers"] >= 1
    assert any(
        f.startswith("sync_cache.py:") and f.endswith(" in invoke") for f in anyio["top_frames"]
    )
    assert sync["ended"] == "wedged"  # a proven wedge ends the variant early, and says so
    assert "ended early" in lines(summary, "sync")
    assert "sync_cache.py:" in (run_dir / sync["stacks_file"]).read_text()


def test_a_second_loops_executor_is_seen_by_the_probe(pools: tuple[dict[str, Any], Path]) -> None:
    summary, _ = pools
    loop2 = summary["variants"]["loop2"]
    assert (loop2["wedged"], loop2["wedge_evidence"]) == (True, "exact"), lines(summary, "loop2")
    assert loop2["peak_pool_parked"] >= 1  # not the main loop's executor: the worker loop's


def test_a_probed_stall_without_a_wedge_is_no_exact_wedge(
    shapes: tuple[dict[str, Any], Path],
) -> None:
    summary, run_dir = shapes
    slow = summary["variants"]["slow"]
    text = lines(summary, "slow")
    assert slow["wedged"] is False and slow["stalled"] is True, text
    assert slow["probe_saw_wedge"] is False
    assert "the probe saw no wedge" in text and "WEDGED" not in text
    assert slow["ended"] != "wedged"  # a stall alone does not cut the run short
    if py_spy() is not None:  # stacks are still taken with the probe in
        assert (run_dir / slow["stacks_file"]).exists()
