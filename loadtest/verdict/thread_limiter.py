"""Is anyio's thread limiter exhausted? The decisions of the thread-limiter detector, pure.

Sync routes and sync dependencies borrow one of anyio's default CapacityLimiter tokens (40)
each. The hazard (fastapi #3205): requests that hold a token while they wait for work that
needs another token, until every token is held by a waiter and nothing can run.

- probed (`exact`): the probe's gauges say every token is borrowed and tasks wait for one,
  and the clients saw no success meanwhile, for EXHAUSTED_CONFIRM_S in a row;
- black box (`stacks`): a stall (requests in flight, none succeeding) while py-spy shows every
  "AnyIO worker thread" parked in a wait primitive (none idle, none working);
- `stall`: a stall nobody could look into: the claim rests on the stall alone.
Beside it, the server's sync health route stops answering in this state, a finding of its
own (`sync_health`). It is decided on states and counts, not on how checks and bursts happen to
interleave: the harness's pinger sends that route a check at a fixed cadence beside the storm,
whether or not the last one answered (each cut at its timeout), and a check counts against the
route only if it was sent while the wedge held:
inside a span that meets the limiter finding's own rule (probed: every token borrowed, tasks
waiting and no success for EXHAUSTED_CONFIRM_S; black box: a stall, requests in flight and no
success for the stall threshold). `failing` when at least one such check, and at least half of
them, went unanswered within its timeout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

EXHAUSTED_CONFIRM_S = 2.0
# The storm's request names (loadtest/storm/users/thread_limiter.py) the detector reads.
HEALTH_NAME = "sync healthz [beside the storm]"
BUILD_NAME = "build [burst]"
ANYIO_THREAD = "AnyIO worker thread"
# The sync health route is failing when at least this many of the checks sent while the wedge
# held, and this share of them, went unanswered. A check sent while every token is held cannot
# be answered until a token frees, so on a real wedge the share is 1; a server that is not
# wedged has no such span for a check to fall in.
HEALTH_MIN_UNANSWERED = 1
HEALTH_UNANSWERED_SHARE = 0.5


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def exhaustion(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The longest span of samples with every token borrowed, tasks waiting, and no client
    success: its length, start, and the peaks read (None where the gauges were never read)."""
    read = [r for r in samples if _num(r.get("anyio_tokens_total"))]
    out: dict[str, Any] = {
        "samples_read": len(read),
        "tokens_total": max((int(r["anyio_tokens_total"]) for r in read), default=None),
        "peak_borrowed": max(
            (int(r.get("anyio_tokens_borrowed") or 0) for r in read), default=None
        ),
        "peak_waiting": max((int(r.get("anyio_waiting_tasks") or 0) for r in read), default=None),
        "exhausted_s": 0.0,
        "exhausted_at_s": None,
    }
    start: float | None = None
    last_ok: float | None = None
    for row in read:
        t = _num(row.get("t_s"))
        ok = _num(row.get("client_ok"))
        full = (_num(row.get("anyio_tokens_borrowed")) or 0) >= row["anyio_tokens_total"]
        waiting = (_num(row.get("anyio_waiting_tasks")) or 0) > 0
        progressed = ok is not None and last_ok is not None and ok > last_ok
        last_ok = ok if ok is not None else last_ok
        if t is None or not (full and waiting) or progressed:
            start = None
            continue
        start = t if start is None else start
        if t - start > out["exhausted_s"]:
            out["exhausted_s"], out["exhausted_at_s"] = round(t - start, 3), start
    return out


def anyio_threads(threads: Iterable[tuple[str, str]]) -> dict[str, int]:
    """From (thread name, state) pairs: how many AnyIO worker threads, and their states."""
    states = [state for name, state in threads if name == ANYIO_THREAD]
    return {
        "anyio_threads": len(states),
        "parked": states.count("parked"),
        "idle": states.count("idle"),
        "working": states.count("working"),
    }


Ping = tuple[float, float, bool]  # (t_s sent, latency_s, answered), as the pinger records it


def wedge_spans(
    samples: Sequence[Mapping[str, Any]], stall_s: float
) -> tuple[str | None, list[tuple[float, float]]]:
    """The spans (first, last sample t_s) during which the wedge held, and what says so, by
    the limiter finding's own rules: `exact` when the gauges were read (every token borrowed,
    tasks waiting and no client success, for at least EXHAUSTED_CONFIRM_S), else `clients`
    (requests in flight and no client success, for at least `stall_s`)."""
    timed = [r for r in samples if _num(r.get("t_s")) is not None]
    read = [r for r in timed if _num(r.get("anyio_tokens_total"))]
    rows = read or [r for r in timed if _num(r.get("client_ok")) is not None]
    basis = ("exact" if read else "clients") if rows else None
    least = EXHAUSTED_CONFIRM_S if read else stall_s
    held: list[tuple[float, bool]] = []
    last_ok: float | None = None
    for r in rows:
        ok = _num(r.get("client_ok"))
        progressed = ok is not None and last_ok is not None and ok > last_ok  # as exhaustion()
        last_ok = ok if ok is not None else last_ok
        if read:
            full = (_num(r.get("anyio_tokens_borrowed")) or 0) >= r["anyio_tokens_total"]
            on = full and (_num(r.get("anyio_waiting_tasks")) or 0) > 0 and not progressed
        else:
            on = not progressed and bool(r.get("client_inflight"))
        held.append((float(r["t_s"]), on))
    spans: list[tuple[float, float]] = []
    start: float | None = None
    for index, (t, on) in enumerate(held):
        if on and start is None:
            start = t
        if start is not None and (not on or index == len(held) - 1):
            end = t if on else held[index - 1][0]
            if round(end - start, 3) >= least:  # rounded as exhaustion() rounds its span
                spans.append((start, end))
            start = None
    return basis, spans


def health_finding(
    pings: Iterable[Ping], samples: Sequence[Mapping[str, Any]], stall_s: float, timeout_s: float
) -> dict[str, Any]:
    """The sync health route's finding and the counts it rests on."""
    checks = list(pings)
    basis, spans = wedge_spans(samples, stall_s)
    inside = [c for c in checks if any(a <= c[0] <= b for a, b in spans)]
    unanswered_inside = sum(not answered for _, _, answered in inside)
    failing = (
        unanswered_inside >= HEALTH_MIN_UNANSWERED
        and unanswered_inside >= HEALTH_UNANSWERED_SHARE * len(inside)
    )
    finding = "failing" if failing else "answering" if checks else "inconclusive"
    return {
        "finding": finding,
        "asked": len(checks),
        "answered": sum(answered for _, _, answered in checks),
        "in_wedge": len(inside),
        "unanswered_in_wedge": unanswered_inside,
        "wedge_basis": basis,
        "wedge_s": round(sum(b - a for a, b in spans), 3),
        "timeout_s": timeout_s,
    }


def limiter_finding(
    *,
    exact: Mapping[str, Any],
    probed: bool,
    stalled_at_s: float | None,
    stacks: Mapping[str, int] | None,
    stacks_error: str | None,
    ok_requests: int,
) -> dict[str, Any]:
    """The finding ("wedged", "clean" or "inconclusive"), its evidence and the figures it
    rests on."""
    if probed and exact.get("samples_read"):
        wedged = exact["exhausted_s"] >= EXHAUSTED_CONFIRM_S
        return {
            "finding": "wedged" if wedged else "clean",
            "evidence": "exact",
            "exhausted_s": exact["exhausted_s"],
            "exhausted_at_s": exact["exhausted_at_s"],
            "tokens_total": exact["tokens_total"],
            "peak_borrowed": exact["peak_borrowed"],
            "peak_waiting": exact["peak_waiting"],
        }
    if stalled_at_s is not None and stacks is not None and not stacks_error:
        n, parked = stacks.get("anyio_threads", 0), stacks.get("parked", 0)
        wedged = n > 0 and parked == n
        return {
            "finding": "wedged" if wedged else "clean",
            "evidence": "stacks",
            "stalled_at_s": stalled_at_s,
            "anyio_threads": n,
            "anyio_parked": parked,
        }
    if stalled_at_s is not None:
        return {"finding": "wedged", "evidence": "stall", "stalled_at_s": stalled_at_s}
    if ok_requests > 0:
        return {"finding": "clean", "evidence": "stall", "stalled_at_s": None}
    return {"finding": "inconclusive", "evidence": None}


def limiter_line(name: str, f: Mapping[str, Any], health: Mapping[str, Any]) -> list[str]:
    """The verdict's sentences for one variant, each with the counts it rests on."""
    ev = f.get("evidence")
    if f.get("finding") == "inconclusive":
        line = f"{name}: thread limiter inconclusive (the storm never got going)"
    elif ev == "exact":
        state = "WEDGED" if f["finding"] == "wedged" else "not exhausted"
        line = (
            f"{name}: anyio thread limiter {state} (evidence exact: longest span with all "
            f"{f['tokens_total']} tokens borrowed, tasks waiting and no success "
            f"{f['exhausted_s']:.1f} s, {EXHAUSTED_CONFIRM_S:g} s flags it; peak "
            f"{f['peak_borrowed']} borrowed, {f['peak_waiting']} waiting)"
        )
    elif ev == "stacks":
        state = "WEDGED" if f["finding"] == "wedged" else "stalled but not wedged"
        line = (
            f"{name}: anyio thread limiter {state} (evidence stacks: stalled at "
            f"{f['stalled_at_s']:.1f} s, py-spy shows {f['anyio_parked']}/{f['anyio_threads']} "
            f"AnyIO worker threads parked in a wait)"
        )
    elif f.get("finding") == "wedged":
        line = f"{name}: thread limiter WEDGED by the stall rule only (evidence stall)"
    else:
        line = f"{name}: thread limiter not wedged (evidence stall: successes kept coming)"
    lines = [line]
    if health.get("asked"):
        word = "FAILING" if health.get("finding") == "failing" else "answering"
        where = (
            f"{health['unanswered_in_wedge']}/{health['in_wedge']} checks sent while the wedge "
            f"held ({health['wedge_basis']}, {health['wedge_s']:.1f} s) went unanswered within "
            f"{health['timeout_s']:g} s"
            if health.get("in_wedge")
            else "no check was sent while a wedge held"
        )
        lines.append(
            f"{name}: sync health route {word}: {where}; "
            f"{health['answered']}/{health['asked']} checks answered in all"
        )
    return lines
