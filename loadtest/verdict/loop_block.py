"""Is the target's event loop blocked by its own handlers? (mcp python-sdk #1646)

Decides from figures the observers took (pure, so the rule is unit-tested on its own):
- exact, with the probe: how late its 100 ms monitor timer ran, in total, as a share of the
  storm's length (read before and after the storm: a blocked loop cannot answer /metrics
  during it). A free loop runs its timers on time even under load; one whose thread sits in a
  sync call runs each late by as long as the call held it, so the total lateness is about
  the time the loop spent blocked;
- black-box: the median latency of the cheap request sent beside the storm (the health path,
  observe/responsiveness.py). On a free loop it answers in milliseconds whatever the storm is
  doing; behind blocking calls it waits for them. When py-spy caught the loop's thread in a
  blocking call outside its selector while a ping was slow (observe/loop_stacks.py), the
  evidence is "stacks" and names the frame.
Every finding carries its counts, and "inconclusive" when too few readings were taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stampede.loadtest.verdict.stats import percentile

BLOCKED_PING_MS = 100.0  # median cheap-request latency at or above this: the loop is blocked
BLOCKED_SHARE = 0.5  # probe: timers late in total by this share of the storm: blocked
MIN_PINGS = 5
MIN_TICKS = 10
FINDING = "blocking the loop"


def ping_figures(latencies_ms: Sequence[float], unanswered: int) -> dict[str, Any]:
    if not latencies_ms:
        return {"n": 0, "unanswered": unanswered, "p50_ms": None, "p95_ms": None, "max_ms": None}
    return {
        "n": len(latencies_ms),
        "unanswered": unanswered,
        "p50_ms": round(percentile(latencies_ms, 50), 1),
        "p95_ms": round(percentile(latencies_ms, 95), 1),
        "max_ms": round(max(latencies_ms), 1),
    }


def lag_figures(ticks: float, late: float, lag_s: float, storm_s: float) -> dict[str, Any]:
    """The probe's ticks over the storm, those over 100 ms late, their total lag."""
    return {
        "ticks": int(ticks),
        "late": int(late),
        "lag_s": round(lag_s, 3),
        "storm_s": round(storm_s, 3),
        "blocked_share": round(lag_s / storm_s, 3) if storm_s > 0 else None,
    }


def loop_block_finding(
    pings: dict[str, Any], lag: dict[str, Any] | None, stacks: dict[str, Any] | None
) -> dict[str, Any]:
    """The finding: {"finding", "evidence", "ping", "lag", "stacks", "reason"}."""
    out: dict[str, Any] = {"ping": pings, "lag": lag, "stacks": stacks}
    if lag is not None and lag["ticks"] >= MIN_TICKS and lag["blocked_share"] is not None:
        blocked = lag["blocked_share"] >= BLOCKED_SHARE
        out["evidence"] = "exact"
        out["reason"] = (
            f"the probe's loop timer ran {lag['lag_s']:.2f} s late in total over a "
            f"{lag['storm_s']:.1f} s storm ({lag['blocked_share']:.0%} of it; {lag['late']} of "
            f"{lag['ticks']} ticks over 100 ms late; blocked from {BLOCKED_SHARE:.0%})"
        )
    elif pings["n"] >= MIN_PINGS:
        blocked = pings["p50_ms"] >= BLOCKED_PING_MS
        caught = bool(stacks and stacks.get("blocked"))
        out["evidence"] = "stacks" if blocked and caught else "black-box"
        out["reason"] = _ping_words(pings)
        if caught:
            assert stacks is not None
            out["reason"] += (
                f"; py-spy caught the loop's thread in a blocking call outside its selector in "
                f"{stacks['blocked']} of {stacks['dumps']} dumps, in {stacks['blocking_frame']}"
            )
    else:
        out.update(finding="inconclusive", evidence=None)
        out["reason"] = f"too few readings ({pings['n']} pings, no probe ticks)"
        return out
    out["finding"] = FINDING if blocked else "clean"
    if out["evidence"] == "exact" and pings["n"]:
        out["reason"] += "; " + _ping_words(pings)
    return out


def _ping_words(p: dict[str, Any]) -> str:
    return (
        f"a cheap request beside the storm took p50 {p['p50_ms']:g} ms, p95 {p['p95_ms']:g} ms "
        f"over {p['n']} pings ({p['unanswered']} unanswered; blocked from a p50 of "
        f"{BLOCKED_PING_MS:g} ms)"
    )
