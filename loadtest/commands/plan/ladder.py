"""The concurrency ladder of a target plan: which concurrency to measure next, and what the
measured levels say (knee, peak, where goodput falls, the SLO's edge).

Search (closed model, no retries, no duplicates):

1. Coarse: N = 1, 2, 4, ... doubling, until goodput collapses (below half the peak so far, or
   nothing succeeds), p99 passes the SLO by the margin (x1.5), or N reaches --max-concurrency.
2. Bisection, each to a gap of a quarter of the lower level (at least 1):
   - around the knee: between the measured levels either side of the knee estimate;
   - around the fall: between the peak level and the first level 10% below the peak;
   - around the SLO's edge: between the last level within the SLO and the first beyond it.

The knee is where the two asymptotes of a closed system meet (operational analysis, the
balanced-bound N*): the single-client line X(1)·N and the peak X_max, at N = X_max / X(1).
For c workers of service time s, X(1) = 1/s and X_max = c/s, so the knee is c exactly,
whatever the client's own overhead (it scales both). Pure functions plus one async driver
that takes the measuring function, so the search is unit-tested without a server.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

COLLAPSE_SHARE = 0.5  # goodput below this share of the peak: collapse
FALL_SHARE = 0.9  # below this share of the peak, past the peak: goodput falls
SLO_MARGIN = 1.5  # the coarse search stops once p99 passes SLO x this
MIN_WARMUP_S = 0.3

Measure = Callable[[int, float], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class LadderOptions:
    slo_p99_ms: float = 2000.0
    max_concurrency: int = 256


def p99(point: dict[str, Any]) -> float | None:
    return point["latency_ms"].get("p99")


def within_slo(point: dict[str, Any], slo_ms: float) -> bool:
    value = p99(point)
    return value is not None and value <= slo_ms and not point["stalled"]


def peak(points: dict[int, dict[str, Any]]) -> tuple[int, float]:
    """(N, goodput) of the highest goodput measured (the smaller N on a tie)."""
    n = max(sorted(points), key=lambda k: points[k]["goodput_per_s"])
    return n, points[n]["goodput_per_s"]


def single_client(points: dict[int, dict[str, Any]]) -> float | None:
    """X(1) = 1 / the median intent time at N=1: one client with no think time does 1/R a
    second; the median, not the mean, so one slow first connection does not move the knee."""
    p50 = points.get(1, {}).get("latency_ms", {}).get("p50")
    return 1000.0 / p50 if p50 else None


def knee(points: dict[int, dict[str, Any]]) -> float | None:
    """X_max / X(1): where the single-client line meets the peak (None without N=1)."""
    single = single_client(points)
    if not single:
        return None
    return peak(points)[1] / single


def collapsed(point: dict[str, Any], best: float) -> bool:
    return point["stalled"] or point["goodput_per_s"] < COLLAPSE_SHARE * best


def _coarse_done(points: dict[int, dict[str, Any]], opts: LadderOptions) -> bool:
    last = points[max(points)]
    value = p99(last)
    return (
        max(points) >= opts.max_concurrency
        or collapsed(last, peak(points)[1])
        or (value is not None and value > opts.slo_p99_ms * SLO_MARGIN)
    )


def _bisect(points: dict[int, dict[str, Any]], lo: int, hi: int) -> int | None:
    """The midpoint to measure between two levels, or None when the gap is small enough."""
    if hi - lo <= max(1, lo // 4):
        return None
    mid = (lo + hi) // 2
    return None if mid in points else mid


def _bracket(levels: list[int], inside: Callable[[int], bool]) -> tuple[int, int] | None:
    """(last level inside, first level outside) when the levels cross from inside to out."""
    for lo, hi in itertools.pairwise(levels):
        if inside(lo) and not inside(hi):
            return lo, hi
    return None


def next_concurrency(points: dict[int, dict[str, Any]], opts: LadderOptions) -> int | None:
    """The next level to measure, or None when the ladder is done."""
    if not points:
        return 1
    coarse = [n for n in sorted(points) if n & (n - 1) == 0 or n == opts.max_concurrency]
    if not _coarse_done({n: points[n] for n in coarse}, opts):
        return min(2 * max(coarse), opts.max_concurrency)
    levels = sorted(points)
    estimate = knee(points)
    if estimate is not None:
        below = [n for n in levels if n <= estimate]
        above = [n for n in levels if n > estimate]
        if below and above and (mid := _bisect(points, below[-1], above[0])):
            return mid
    best_n, best = peak(points)
    beyond = [n for n in levels if n >= best_n]
    fall = _bracket(beyond, lambda n: points[n]["goodput_per_s"] >= FALL_SHARE * best)
    if fall and (mid := _bisect(points, *fall)):
        return mid
    edge = _bracket(levels, lambda n: within_slo(points[n], opts.slo_p99_ms))
    if edge and (mid := _bisect(points, *edge)):
        return mid
    return None


def warmup_s(points: dict[int, dict[str, Any]], n: int, slo_ms: float) -> float:
    """One intent's expected latency at N: the closed loop's steady state begins after it."""
    below = [k for k in sorted(points) if k < n and points[k]["latency_ms"].get("p50")]
    if not below:
        return MIN_WARMUP_S
    k = below[-1]
    # Saturated: latency grows with N (Little's law at a fixed throughput); else it stays.
    expected = points[k]["latency_ms"]["p50"] / 1000 * max(1.0, n / k)
    return min(max(MIN_WARMUP_S, expected), slo_ms * SLO_MARGIN / 1000)


async def run_ladder(
    measure: Measure, opts: LadderOptions, on_point: Callable[[dict], None] | None = None
) -> dict[int, dict[str, Any]]:
    """Measure levels until next_concurrency says done; `measure(n, warmup_s)` runs one step."""
    points: dict[int, dict[str, Any]] = {}
    while (n := next_concurrency(points, opts)) is not None:
        points[n] = await measure(n, warmup_s(points, n, opts.slo_p99_ms))
        if on_point is not None:
            on_point(points[n])
    return points


def summary(points: dict[int, dict[str, Any]], opts: LadderOptions) -> dict[str, Any]:
    """What the ladder found, each figure beside the levels it rests on."""
    levels = sorted(points)
    best_n, best = peak(points)
    estimate, single = knee(points), single_client(points)
    falls = [n for n in levels if n > best_n and points[n]["goodput_per_s"] < FALL_SHARE * best]
    collapse = [n for n in levels if n > best_n and collapsed(points[n], best)]
    ok = [n for n in levels if within_slo(points[n], opts.slo_p99_ms)]
    breach = [n for n in levels if not within_slo(points[n], opts.slo_p99_ms)]
    return {
        "levels": levels,
        "single_client_goodput_per_s": None if single is None else round(single, 3),
        "peak_goodput_per_s": best,
        "peak_concurrency": best_n,
        "knee_concurrency": None if estimate is None else round(estimate, 2),
        "falls_at": falls[0] if falls else None,
        "collapse_at": collapse[0] if collapse else None,
        "slo_max_concurrency": max((n for n in ok if not breach or n < min(breach)), default=None),
        "first_slo_breach": min(breach) if breach else None,
        "stopped_by": _stopped_by(points, opts),
    }


def _stopped_by(points: dict[int, dict[str, Any]], opts: LadderOptions) -> str:
    top = points[max(points)]
    value = p99(top)
    if collapsed(top, peak(points)[1]):
        return "collapse"
    if value is not None and value > opts.slo_p99_ms * SLO_MARGIN:
        return f"SLO breach (p99 {value:.0f} ms > {SLO_MARGIN:g} x {opts.slo_p99_ms:g} ms)"
    return f"--max-concurrency {opts.max_concurrency}"
