"""Is the target spinning while it serves nothing? (anyio #1111, mitigated by anyio PR #1217)

Decides from the idle phase after the storm (observe/idle_phase.py), when no request is in
flight and a healthy server sleeps (pure, unit-tested):
- exact, with the probe: the CPU time of the event loop's own thread over the phase, as the
  loop counted it (stampede_event_loop_thread_cpu_seconds_total);
- black-box: the CPU time of the target's process tree over the phase (psutil). With py-spy's
  stack of the thread that used it, the evidence is "stacks" and names what that thread runs.
Spinning is SPIN_SHARE of a core or more; an idle server uses a few percent at most.
"""

from __future__ import annotations

from typing import Any

SPIN_SHARE = 0.15  # share of one core with nothing in flight: spinning
MIN_IDLE_S = 1.0
FINDING = "spinning"


def spin_finding(idle: dict[str, Any]) -> dict[str, Any]:
    """The finding: {"finding", "evidence", "idle", "reason"}."""
    out: dict[str, Any] = {"idle": idle}
    wall = idle.get("wall_s")
    hot = idle.get("hot_thread") or {}
    if not isinstance(wall, int | float) or wall < MIN_IDLE_S:
        out.update(finding="inconclusive", evidence=None)
        out["reason"] = f"no idle phase of {MIN_IDLE_S:g} s or more (got {wall})"
        return out
    if isinstance(idle.get("loop_cpu_share"), int | float):
        share = float(idle["loop_cpu_share"])
        out["evidence"] = "exact"
        out["reason"] = (
            f"with nothing in flight for {wall:.1f} s the loop's thread used "
            f"{idle['loop_cpu_s']:.2f} s of CPU ({share:.0%} of a core)"
        )
    elif isinstance(idle.get("cpu_share"), int | float):
        share = float(idle["cpu_share"])
        out["evidence"] = "stacks" if share >= SPIN_SHARE and hot.get("frames") else "black-box"
        out["reason"] = (
            f"with nothing in flight for {wall:.1f} s the process used {idle['cpu_s']:.2f} s "
            f"of CPU ({share:.0%} of a core)"
        )
    else:
        out.update(finding="inconclusive", evidence=None)
        out["reason"] = "no CPU reading (a URL target without the probe)"
        return out
    if isinstance(idle.get("cpu_share"), int | float) and out["evidence"] == "exact":
        out["reason"] += f", the process {idle['cpu_share']:.0%}"
    if hot.get("frames"):
        frames = " <- ".join(hot["frames"][:3])
        out["reason"] += f"; hot thread {hot.get('name')} ({hot['cpu_s']:.2f} s) in {frames}"
    out["reason"] += f" (spinning from {SPIN_SHARE:.0%})"
    out["finding"] = FINDING if share >= SPIN_SHARE else "clean"
    out["share"] = share
    return out
