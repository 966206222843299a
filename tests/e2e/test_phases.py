"""A phased storm on real servers: the trigger slows the model 5x through the loopback control
endpoint; to_thread wedges and never recovers, future's goodput comes back. The run's gates
check it, and the ones that must fail exit 1 with one line each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_future_recovers_and_to_thread_does_not(tmp_path: Path) -> None:
    gates = "to_thread:recovered,future:!recovered,wedged,to_thread:recovery_s>1"
    done = subprocess.run(
        [sys.executable, "-m", "stampede", "compare", "--variants", "to_thread,future",
         "--phases", "baseline=4,trigger=2,recovery=6", "--trigger", "slow-model:5x",
         "--model-latency-ms", "100", "--fail-on", gates, "--out", str(tmp_path),
         "--no-progress", "--no-plots"],
        capture_output=True, text=True, timeout=150,
    )  # fmt: skip
    failed = [line for line in done.stdout.splitlines() if line.startswith("gate failed")]
    assert done.returncode == 1, done.stdout + done.stderr
    # Only the gates that must fail do: the wedge and the recovery to_thread never made.
    assert failed == [
        "gate failed: to_thread: wedged (measured yes)",
        "gate failed: to_thread: recovery_s>1 (measured unknown)",
    ], done.stdout

    summary = json.loads((tmp_path / "latest" / "summary.json").read_text())
    future, to_thread = summary["variants"]["future"], summary["variants"]["to_thread"]
    assert to_thread["phases"]["recovered"] is False and to_thread["wedged"] is True
    phases = future["phases"]
    assert phases["recovered"] is True and phases["recovery_s"] is not None
    assert phases["trigger"] == "slow-model:5x"
    assert 3.5 <= phases["trigger_applied_at_s"] <= 4.5  # on the generator's own clock
    base, trigger = phases["by_phase"]["baseline"], phases["by_phase"]["trigger"]
    # The slow model shows in the trigger phase's intent latency.
    assert trigger["intent_latency_ms"]["p50"] > 2 * base["intent_latency_ms"]["p50"]
    assert phases["baseline_goodput_per_s"] > 0
    assert future["intents"]["arrival"]["target_per_s"] == 15  # half of 6 workers / 0.2 s
    verdict = " ".join(summary["verdict"])
    assert "did not recover after the trigger (slow-model:5x)" in verdict
    assert f"recovered {phases['recovery_s']:g} s after the trigger" in verdict
    assert (
        "recovered (goodput within 10% of baseline)" in (tmp_path / "latest/report.md").read_text()
    )
