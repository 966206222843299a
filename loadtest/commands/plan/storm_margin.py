"""The retry-storm margin of a target plan, and the retry policies measured at the planned load.

- Margin: at the knee's concurrency, the storm of `compare` (each intent fanned out to D
  same-key duplicates, every sender retrying timeouts with full jitter) for D = 1, 2, 4, ...
  up to --max-duplicates, then bisection between the last D that held and the first that did
  not. A D collapses when goodput falls below half of D = 0's (same storm, no duplicates) or
  nothing succeeds in the window (a wedge or a stall). The margin is the smallest such D: the
  generalisation of `stampede plan`'s wedge threshold to any target.
- Policies: at twice the recommended limit (a spike, or half the replicas lost), the same
  closed loop with no duplicates, the client giving up at the SLO and retrying under none,
  full-jitter, budget and adaptive; each against the goodput measured at the limit, so what
  falls is the retries' doing, not the duplicates'. Which of them stay out of collapse.

Both take the measuring function, so the search is unit-tested without a server. After a step
that collapsed, `reset` restarts the target: a wedged server stays wedged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from stampede.loadtest.commands.plan.ladder import COLLAPSE_SHARE

POLICIES = ("none", "full-jitter", "budget", "adaptive")
STORM_POLICY = "full-jitter"  # compare's default
POLICY_DUPLICATES = 0
POLICY_OVERLOAD = 2  # the trials run at this multiple of the recommended limit

# measure(concurrency, duplicates, policy) -> a closed_load step's figures
StormMeasure = Callable[[int, int, str], Awaitable[dict[str, Any]]]
Reset = Callable[[], Awaitable[None]]


def collapsed(point: dict[str, Any], baseline: float) -> bool:
    return point["stalled"] or point["goodput_per_s"] < COLLAPSE_SHARE * baseline


def next_duplicates(results: dict[int, bool], max_duplicates: int) -> int | None:
    """The next duplicate count to try (results: D -> collapsed), None when the margin is known."""
    if not results:
        return 1
    bad = [d for d, c in results.items() if c]
    if not bad:
        top = max(results)
        return None if top >= max_duplicates else min(2 * top, max_duplicates)
    hi = min(bad)
    lo = max((d for d, c in results.items() if not c and d < hi), default=0)
    mid = (lo + hi) // 2
    return None if hi - lo <= 1 or mid in results else mid


async def storm_margin(
    measure: StormMeasure, reset: Reset, concurrency: int, max_duplicates: int
) -> dict[str, Any]:
    baseline = await measure(concurrency, 0, STORM_POLICY)
    if baseline["stalled"]:
        await reset()
    steps = [baseline]
    results: dict[int, bool] = {}
    while (d := next_duplicates(results, max_duplicates)) is not None:
        point = await measure(concurrency, d, STORM_POLICY)
        results[d] = collapsed(point, baseline["goodput_per_s"])
        steps.append(point)
        if results[d]:
            await reset()
    bad = sorted(d for d, c in results.items() if c)
    margin = bad[0] if bad else None
    wedged = [p["duplicates"] for p in steps if p["stalled"]]
    return {
        "concurrency": concurrency,
        "policy": STORM_POLICY,
        "baseline_goodput_per_s": baseline["goodput_per_s"],
        "margin_duplicates": margin,
        "max_tested": max(results, default=0),
        "wedged_at": min(wedged) if wedged else None,
        "steps": steps,
    }


async def policy_trials(
    measure: StormMeasure, reset: Reset, concurrency: int, baseline: float
) -> dict[str, Any]:
    trials = {}
    for policy in POLICIES:
        point = await measure(concurrency, POLICY_DUPLICATES, policy)
        point["collapsed"] = collapsed(point, baseline)
        point["goodput_ratio"] = round(point["goodput_per_s"] / baseline, 3) if baseline else None
        trials[policy] = point
        if point["collapsed"]:
            await reset()
    return {
        "concurrency": concurrency,
        "duplicates": POLICY_DUPLICATES,
        "baseline_goodput_per_s": baseline,
        "trials": trials,
    }
