"""Is the target's event loop blocked by its own handlers? (mcp python-sdk #1646)

Decides from figures the observers took (pure, so the rule is unit-tested on its own):
- exact, with the probe: the share of its 100 ms monitor ticks that ran more than 100 ms late
  over the storm. A free loop runs its timers on time even under load; one whose thread sits
  in a sync call cannot run them until the call returns;
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

BLOCKED_PING_MS = 50.0  # median cheap-request latency at or above this: the loop is blocked
LATE_SHARE = 0.25  # probe: this share of ticks more than 100 ms late: the loop is blocked
MIN_PINGS = 10
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


def lag_figures(ticks: float, late: float, lag_s: float) -> dict[str, Any]:
    return {
        "ticks": int(ticks),
        "late": int(late),
        "late_share": round(late / ticks, 3) if ticks else None,
        "mean_lag_ms": round(lag_s / ticks * 1000, 1) if ticks else None,
    }


def loop_block_finding(
    pings: dict[str, Any], lag: dict[str, Any] | None, stacks: dict[str, Any] | None
) -> dict[str, Any]:
    """The finding: {"finding", "evidence", "ping", "lag", "stacks", "reason"}."""
    out: dict[str, Any] = {"ping": pings, "lag": lag, "stacks": stacks}
    if lag is not None and lag["ticks"] >= MIN_TICKS:
        blocked = lag["late_share"] >= LATE_SHARE
        out["evidence"] = "exact"
        out["reason"] = (
            f"{lag['late_share']:.0%} of the probe's {lag['ticks']} ticks ran more than 100 ms "
            f"late (mean lag {lag['mean_lag_ms']:g} ms; blocked from {LATE_SHARE:.0%})"
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
