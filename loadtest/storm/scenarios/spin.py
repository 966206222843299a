"""The spin storm (anyio #1111): tool calls cut by a deadline, then an idle phase.

Each call's cancel scope is cancelled; where it is exited in the wrong task, its delivery keeps
rescheduling itself after the answer. After the storm every variant gets an idle phase with
nothing in flight (observe/idle_phase.py): a healthy server's CPU stands still, a spinning
one burns a core. The finding is verdict/spin.py's.
"""

from __future__ import annotations

from typing import Any

from stampede.loadtest.storm.scenarios.detector_tables import sections_for
from stampede.loadtest.storm.scenarios.runtime_report import (
    verdict_for,
    with_black_box,
)
from stampede.loadtest.storm.scenarios.scenario import for_hazard
from stampede.loadtest.verdict.spin import spin_finding
from stampede.server.hazards import SPIN as SPEC

KEY = "spin"
IDLE_S = 2.0


def spin_summary(record: Any, summary: dict[str, Any]) -> dict[str, Any]:
    idle = dict(record.idle)
    outside = {k: v for k, v in idle.items() if not k.startswith("loop_cpu")}
    return {KEY: with_black_box(spin_finding(idle), spin_finding(outside))}


def _cells(f: dict[str, Any]) -> list[Any]:
    idle = f.get("idle") or {}
    hot = idle.get("hot_thread") or {}
    share, loop_share = idle.get("cpu_share"), idle.get("loop_cpu_share")
    frames = " <- ".join((hot.get("frames") or [])[:3]) or None
    runnable = hot.get("runnable_share")
    return [
        idle.get("wall_s"),
        None if runnable is None else f"{runnable:.0%}",
        None if share is None else f"{share:.0%}",
        None if loop_share is None else f"{loop_share:.0%}",
        f"{hot.get('name', hot.get('os_tid'))}: {frames}" if frames else None,
    ]


SPIN = for_hazard(
    SPEC,
    "Tool calls with a deadline shorter than the tool, so each call cancels the tool's "
    "cancel scope: `wrong_task` exits the scope in the request task, and the scope's "
    "cancellation delivery reschedules itself forever; `owner_task` exits it in the task "
    "that entered it. An idle phase after the storm reads the CPU time used while nothing "
    "was in flight.",
    verdict=verdict_for(KEY),
    verdict_on_targets=True,
    summary_hooks=[spin_summary],
    sections=sections_for(
        KEY,
        "CPU with nothing in flight",
        f"After the storm, {IDLE_S:g} s with no request in flight: how long the target's "
        "busiest thread was runnable (on a CPU or queued for one), the CPU time of its process "
        "tree and of the event loop's own thread (with the probe), and the busiest thread's "
        "stack (py-spy).",
        ["idle s", "busiest thread runnable", "process CPU", "loop thread CPU", "its stack"],
        _cells,
    ),
    idle_s=IDLE_S,
)
