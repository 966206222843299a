"""Is the target spinning while it serves nothing? (anyio #1111, mitigated by anyio PR #1217)

Decides from the idle phase after the storm (observe/idle_phase.py), when no request is in
flight and a healthy server sleeps (pure, unit-tested). The figure decided on:
- the share of the phase its busiest thread was runnable (on a CPU or queued for one): a
  thread spinning on a callback that reschedules itself is runnable all the time, even on a
  machine so busy that it gets a fifth of a core; a sleeping server's threads are not;
- where that cannot be read (not Linux), the CPU share of the process, at a lower bound;
- a URL target with the probe: the loop thread's own CPU share.
The evidence: "exact" when the probe's loop-thread CPU counter says the loop's own thread is
the one busy (or idle); "stacks" when py-spy caught the busy thread running code outside the
loop's machinery and names it; else "black-box".
"""

from __future__ import annotations

from typing import Any

RUNNABLE_SHARE = 0.5  # the busiest thread runnable half the idle phase or more: spinning
CPU_SHARE = 0.15  # without run-queue figures: this share of a core with nothing in flight
MIN_IDLE_S = 1.0
FINDING = "spinning"


def _num(value: Any) -> bool:
    return isinstance(value, int | float)


def spin_finding(idle: dict[str, Any]) -> dict[str, Any]:
    """The finding: {"finding", "evidence", "share", "bound", "idle", "reason"}."""
    out: dict[str, Any] = {"idle": idle}
    wall = idle.get("wall_s")
    hot = idle.get("hot_thread") or {}
    if not _num(wall) or wall < MIN_IDLE_S:
        out.update(finding="inconclusive", evidence=None)
        out["reason"] = f"no idle phase of {MIN_IDLE_S:g} s or more (got {wall})"
        return out
    parts = []
    if _num(hot.get("runnable_share")):
        share, bound = float(hot["runnable_share"]), RUNNABLE_SHARE
        parts.append(f"its busiest thread was runnable {share:.0%} of it")
    elif _num(idle.get("cpu_share")):
        share, bound = float(idle["cpu_share"]), CPU_SHARE
    elif _num(idle.get("loop_cpu_share")):
        share, bound = float(idle["loop_cpu_share"]), CPU_SHARE
    else:
        out.update(finding="inconclusive", evidence=None)
        out["reason"] = "no CPU reading (a URL target without the probe)"
        return out
    spinning = share >= bound
    if _num(idle.get("cpu_share")):
        parts.append(f"the process used {idle['cpu_s']:.2f} s of CPU ({idle['cpu_share']:.0%})")
    loop_cpu = idle.get("loop_cpu_s")
    if _num(loop_cpu):
        parts.append(f"the loop's own thread {loop_cpu:.2f} s (the probe)")
    cpu = idle.get("cpu_s")
    loop_is_it = _num(loop_cpu) and (not _num(cpu) or cpu <= 0 or loop_cpu >= 0.5 * cpu)
    if _num(loop_cpu) and (loop_is_it or not spinning):
        out["evidence"] = "exact"
    elif spinning and hot.get("frames") and hot.get("caught", True):
        out["evidence"] = "stacks"
    else:
        out["evidence"] = "black-box"
    reason = f"with nothing in flight for {wall:.1f} s, " + ", ".join(parts)
    if hot.get("frames"):
        frames = " <- ".join(hot["frames"][:3])
        reason += f"; busiest thread {hot.get('name', hot.get('os_tid'))} in {frames}"
    out["reason"] = reason + f" (spinning from {bound:.0%})"
    out.update(finding=FINDING if spinning else "clean", share=share, bound=bound)
    return out
