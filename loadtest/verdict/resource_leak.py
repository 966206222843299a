"""Threads, open fds and RSS that grew with the load and were still held after the drain.

Pure (unit-tested): the sampler's series over the storm (observe/sampler.py, one row every
0.5 s), the process tree's figures at the variant's start and after the clients were gone and
the server drained (observe/process_figures.py), in; one finding per resource out. A resource
leaks when all of these hold:

- held: the figure after the drain is at least HELD[metric] above the start;
- growing: over the storm's second half (by requests sent) it still grew by at least
  LATE[metric] (a least-squares slope, times the requests of that half). A pool fills in the
  first moments of a storm and then stays: a default executor that grew to 6 workers, anyio's
  40 worker threads, a connection pool, the allocator's arenas. A leak keeps growing with
  every request;
- beyond the work in flight (threads and fds): more held than the most requests ever seen in
  flight at once (PER_INFLIGHT of them per request for fds), the most any pool could have
  needed to serve the load at its peak;
- beyond what the load's volume explains (RSS): held, and the second half's slope, at least
  PER_1000 per 1,000 requests sent.
The bounds are set so that no healthy or fixed example is ever called leaking
(benchmarks/false_positives.py storms every one of them ten times and more).

Evidence: psutil's figures are black-box; a probed server without a process of ours (a URL
target) gives its thread count itself (stampede_process_threads), which is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stampede.loadtest.verdict.leak import slope

MIB = 1024 * 1024
METRICS = ("threads", "open_fds", "rss_bytes")
HELD = {"threads": 16, "open_fds": 32, "rss_bytes": 64 * MIB}
LATE = {"threads": 8, "open_fds": 16, "rss_bytes": 32 * MIB}
PER_INFLIGHT = {"threads": 1, "open_fds": 2}
# RSS also per 1,000 requests, held and as the second half's slope: what a server that keeps
# a session's state until an idle reaper runs, and its allocator's arenas, hold scales with
# the load (a fix measured at +11.8 MiB per 1,000 after 10,489 sessions: +124 MiB held). The
# bound is the state_leak detector's (verdict/leak.py), so the two never disagree.
PER_1000 = {"rss_bytes": 16 * MIB}
MIN_POINTS = 3  # readings in the storm's second half to fit a slope to


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _second_half(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    if not points:
        return []
    half = max(x for x, _ in points) / 2
    pairs = [p for p in points if p[0] >= half]
    return pairs if len(pairs) >= MIN_POINTS else []


def late_rate(points: Sequence[tuple[float, float]]) -> float | None:
    """The figure's least-squares slope per request over the second half of the load
    ((requests, value) points); None with too few readings."""
    pairs = _second_half(points)
    return slope([x for x, _ in pairs], [y for _, y in pairs]) if pairs else None


def late_growth(points: Sequence[tuple[float, float]]) -> float | None:
    """How much the figure grew over the second half of the load: its slope over the half
    times the requests sent in it; None with too few readings."""
    pairs = _second_half(points)
    rate = late_rate(points)
    if rate is None:
        return None
    return rate * (max(x for x, _ in pairs) - min(x for x, _ in pairs))


def resource_leaks(
    samples: Sequence[dict[str, Any]],
    start: dict[str, Any],
    end: dict[str, Any],
    probe_start: dict[str, Any] | None = None,
    probe_end: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """summary.json's `resources`: per metric {start, end, held, peak, late_growth, leaking}
    with the `evidence`, `peak_inflight` and `leaking` (the metrics that leak)."""
    column = {m: m for m in METRICS}
    evidence = "black-box"
    if not _num(start.get("threads")) and _num((probe_start or {}).get("process_threads")):
        # No process of ours to read: the probe's own thread count (a probed URL target).
        start = {"threads": (probe_start or {})["process_threads"]}
        end = {"threads": (probe_end or {}).get("process_threads")}
        column["threads"], evidence = "process_threads", "exact"
    loaded = [s for s in samples if _num(s.get("client_requests")) and s["client_requests"] > 0]
    inflight = [s["client_inflight"] for s in samples if _num(s.get("client_inflight"))]
    peak_inflight = int(max(inflight)) if inflight else None
    out: dict[str, Any] = {"evidence": evidence, "peak_inflight": peak_inflight, "leaking": []}
    if end.get("settled") is not None:
        out["settled"] = end.get("settled")
    for metric in METRICS:
        a, b = start.get(metric), end.get(metric)
        if not (_num(a) and _num(b)):
            continue
        points = [
            (float(s["client_requests"]), float(s[column[metric]]))
            for s in loaded
            if _num(s.get(column[metric]))
        ]
        growth = late_growth(points)
        held = float(b) - float(a)
        row: dict[str, Any] = {
            "start": a,
            "end": b,
            "held": round(held, 1),
            "peak": max([y for _, y in points], default=None),
            "late_growth": None if growth is None else round(growth, 1),
        }
        beyond = True
        if metric in PER_INFLIGHT:
            beyond = peak_inflight is not None and held > PER_INFLIGHT[metric] * peak_inflight
        if metric in PER_1000:
            sent = max((x for x, _ in points), default=0.0)
            rate = late_rate(points)
            row["held_per_1000"] = round(held / sent * 1000, 1) if sent else None
            row["per_1000"] = None if rate is None else round(rate * 1000, 1)
            beyond = bool(sent and rate is not None) and (
                min(held / sent, rate or 0.0) * 1000 >= PER_1000[metric]
            )
        # Still falling when the drain wait ended: requests finishing late, not a leak.
        settled = out.get("settled") is not False
        row["leaking"] = bool(
            held >= HELD[metric]
            and growth is not None
            and growth >= LATE[metric]
            and beyond
            and settled
        )
        out[metric] = row
        if row["leaking"]:
            out["leaking"].append(metric)
    return out


def _amount(metric: str, value: float, signed: bool = True) -> str:
    if metric == "rss_bytes":
        return f"{value / MIB:+.1f} MiB" if signed else f"{value / MIB:.1f} MiB"
    unit = {"threads": "threads", "open_fds": "fds"}[metric]
    return f"{value:+.0f} {unit}" if signed else f"{value:.0f}"


def leak_texts(resources: dict[str, Any] | None) -> list[str]:
    """One sentence per leaking resource, with its counts: "+37 threads left after
    draining, 3 at start (+30 over the storm's second half; at most 4 requests in flight)"."""
    if not resources:
        return []
    texts = []
    for metric in resources.get("leaking") or []:
        row = resources.get(metric) or {}
        inflight = resources.get("peak_inflight")
        why = f"{_amount(metric, row.get('late_growth') or 0)} over the storm's second half"
        if metric in PER_INFLIGHT and inflight is not None:
            why += f"; at most {inflight} request(s) in flight"
        if isinstance(row.get("held_per_1000"), int | float):
            why += f"; {_amount(metric, row['held_per_1000'])} per 1,000 requests"
        texts.append(
            f"{_amount(metric, row['held'])} left after draining, "
            f"{_amount(metric, row['start'], signed=False)} at start ({why})"
        )
    return texts


def leak_label(resources: dict[str, Any] | None) -> str:
    """The state's words for the leaking resources: "+37 threads, +40 fds left after draining"."""
    rows = [
        _amount(m, (resources or {})[m]["held"]) for m in (resources or {}).get("leaking") or []
    ]
    return ", ".join(rows) + " left after draining" if rows else ""
