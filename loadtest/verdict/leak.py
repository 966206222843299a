"""Does the target keep state for every session it ever opened? (mcp python-sdk #1283)

Decides from per-session figures (pure, unit-tested): over the storm, RSS, live tasks and open
fds against the sessions opened so far, as a least-squares slope per 1,000 sessions; and what
is still held after the storm, the idle phase and a gc pass, against the start, per 1,000
sessions. A leak is a metric that both kept growing with the sessions and did not come back.
The slope is fitted over the storm's second half (by sessions opened): the first sessions
fill pools, caches and the allocator's arenas, and a fix that reaps on idle plateaus once
opening and reaping balance. RSS alone may not come back even then (the allocator keeps
freed memory for reuse), which is why a held figure counts only with a growing slope.
Live tasks need the probe (evidence "exact"); RSS and fds are read from the process
(evidence "black-box").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MIB = 1024 * 1024
MIN_SESSIONS = 100
MIN_POINTS = 3
# What 1,000 sessions may leave held after the storm before it is a leak, per metric. RSS's
# is high: a reaping server keeps the allocator's arenas of its peak live sessions (measured:
# up to 7 MiB per 1,000 for the built-in fix), so only state of 16 KiB a session and more
# shows black-box in a short storm; tasks (the probe) show any per-session task.
THRESHOLDS = {"rss_bytes": 16 * MIB, "event_loop_tasks": 100.0, "open_fds": 50.0}
FINDING = "leaking"


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of ys over xs; None for fewer than two distinct xs."""
    n = len(xs)
    if n < 2 or n != len(ys):
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def leak_finding(
    points: Sequence[dict[str, Any]], start: dict[str, Any], end: dict[str, Any], sessions: int
) -> dict[str, Any]:
    """points: storm samples with "sessions" and the metrics; start/end: the metrics at the
    variant's start and after the idle phase. The finding: {"finding", "evidence", "sessions",
    "per_1000" (slope), "held_per_1000" (after the storm), "leaking" (metrics), "reason"}."""
    out: dict[str, Any] = {"sessions": sessions, "per_1000": {}, "held_per_1000": {}}
    if sessions < MIN_SESSIONS or len(points) < MIN_POINTS:
        out.update(finding="inconclusive", evidence=None, leaking=[])
        out["reason"] = f"too few sessions ({sessions}) or samples ({len(points)})"
        return out
    leaking = []
    half = max(p["sessions"] for p in points) / 2
    for metric, bound in THRESHOLDS.items():
        known = [(p["sessions"], p[metric]) for p in points if _num(p.get(metric))]
        # The second half, by sessions; at least the last MIN_POINTS readings.
        pairs = [pair for pair in known if pair[0] >= half]
        if len(pairs) < MIN_POINTS:
            pairs = known[-MIN_POINTS:]
        if len(pairs) < MIN_POINTS or not (_num(start.get(metric)) and _num(end.get(metric))):
            continue
        rate = slope([float(x) for x, _ in pairs], [float(y) for _, y in pairs])
        held = (float(end[metric]) - float(start[metric])) / sessions * 1000
        out["per_1000"][metric] = None if rate is None else round(rate * 1000, 2)
        out["held_per_1000"][metric] = round(held, 2)
        # Both at the bound: the bug's slope and held figure agree (its state is all still
        # there); a reaping fix's plateau may show one of them, at a fraction of it.
        if rate is not None and held >= bound and rate * 1000 >= bound:
            leaking.append(metric)
    out["leaking"] = leaking
    if not out["held_per_1000"]:  # no metric had its readings: nothing decided
        out.update(finding="inconclusive", evidence=None)
        out["reason"] = f"no metric with {MIN_POINTS} readings over the storm and one after it"
        return out
    out["evidence"] = "exact" if "event_loop_tasks" in out["per_1000"] else "black-box"
    out["finding"] = FINDING if leaking else "clean"
    out["reason"] = (
        f"{_rates(out['per_1000'])} per 1,000 sessions over the storm's second half "
        f"({sessions} sessions); "
        f"after it and a gc pass still held: {_rates(out['held_per_1000'])} per 1,000"
    )
    return out


def _num(value: Any) -> bool:
    return isinstance(value, int | float)


def _rates(figures: dict[str, float | None]) -> str:
    words = []
    for metric, value in figures.items():
        if value is None:
            continue
        if metric == "rss_bytes":
            words.append(f"{value / MIB:+.1f} MiB")
        else:
            unit = "tasks" if metric == "event_loop_tasks" else "fds"
            words.append(f"{value:+.0f} {unit}")
    return " and ".join(words) if words else "no readings"
