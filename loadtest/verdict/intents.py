"""Intent figures from the storm's intents file: goodput, amplification, intent latency.

The locustfile writes every intent with its attempts (loadtest/storm/users/intents.py); this reads
that file and turns it into the figures SREs reason with:

- intents started / succeeded / failed by kind / timed out, and the success ratio;
- goodput: succeeded intents per second, over the storm and in 1 s buckets;
- amplification: attempts per intent (the client's count), and the server's invocations and
  model calls per intent (its own counters, passed in by the caller);
- retry ratio: retries over all attempts sent;
- intent latency p50/p95/p99/max, from the intended start to the first success, so a slow
  generator or a stalled server shows (no coordinated omission);
- open model: the achieved arrival rate against the target, and late or dropped starts.

An intent still open when the run stopped ("cut") counts as timed out once it had waited a
full client timeout with no answer; a younger one had no fair chance and is left out.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from stampede.loadtest.verdict.stats import percentile

LATE_S = 0.1  # an open-model start later than this behind its schedule is late
STOP_MARGIN_S = 0.5
COUNTED = ("succeeded", "timed_out", "failed")


def read_intents(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(meta, intents) of an intents file; ({}, []) when there is none."""
    meta: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return meta, rows
    for line in lines:
        try:
            item = json.loads(line)
        except ValueError:
            continue  # a torn last line of a killed writer
        if item.get("type") == "meta":
            meta = item
        elif isinstance(item, dict) and "id" in item:
            rows.append(item)
    return meta, rows


def classify(row: dict[str, Any], client_timeout_s: float) -> str:
    """The outcome an intent counts as: succeeded | timed_out | failed | unfinished | dropped."""
    outcome = row.get("outcome")
    if outcome in COUNTED or outcome == "dropped":
        return str(outcome)
    if row.get("succeeded") is not None:
        return "succeeded"
    waited = (row.get("ended") or 0) - (row.get("intended") or 0)
    return "timed_out" if waited >= client_timeout_s else "unfinished"


def sent_attempts(row: dict[str, Any]) -> list[list[Any]]:
    return [a for a in row.get("attempts", []) if a[3] != "rejected_locally"]


def _ms(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    ms = [v * 1000 for v in values]
    return {
        "p50": round(percentile(ms, 50), 1),
        "p95": round(percentile(ms, 95), 1),
        "p99": round(percentile(ms, 99), 1),
        "max": round(max(ms), 1),
    }


def _ratio(a: float, b: float, digits: int = 3) -> float | None:
    return round(a / b, digits) if b else None


def summarize(
    meta: dict[str, Any],
    rows: list[dict[str, Any]],
    *,
    server_invocations: int | None = None,
    model_calls: int | None = None,
    planned_s: float | None = None,
) -> dict[str, Any]:
    """The `intents` block of one variant's summary."""
    timeout_s = float(meta.get("client_timeout") or 0.0)
    kinds = {row["id"]: classify(row, timeout_s) for row in rows}
    started = [r for r in rows if kinds[r["id"]] != "dropped"]
    counted = [r for r in started if kinds[r["id"]] in COUNTED]
    succeeded = [r for r in counted if kinds[r["id"]] == "succeeded"]
    outcomes = Counter(kinds.values())
    failed_by = Counter(r.get("kind") or "unknown" for r in counted if kinds[r["id"]] == "failed")
    attempts = [a for r in started for a in sent_attempts(r)]
    retries = sum(1 for a in attempts if a[0] == "retry")
    rejected = sum(1 for r in started for a in r.get("attempts", []) if a[3] == "rejected_locally")
    t0 = float(meta.get("t0") or min((r["intended"] for r in rows), default=0.0))
    ends = [r.get("ended") or r.get("succeeded") or r["intended"] for r in rows]
    duration = max(0.0, max(ends, default=t0) - t0)
    goodput_buckets = [0] * math.ceil(duration)
    for r in succeeded:
        index = int(r["succeeded"] - t0)
        if 0 <= index < len(goodput_buckets):
            goodput_buckets[index] += 1
    latency = [r["succeeded"] - r["intended"] for r in succeeded]
    block: dict[str, Any] = {
        "started": len(started),
        "counted": len(counted),
        "succeeded": len(succeeded),
        "timed_out": outcomes.get("timed_out", 0),
        "failed": outcomes.get("failed", 0),
        "failed_by_kind": dict(sorted(failed_by.items())),
        "unfinished": outcomes.get("unfinished", 0),
        "success_ratio": _ratio(len(succeeded), len(counted)),
        "duration_s": round(duration, 3),
        "goodput_per_s": _ratio(len(succeeded), duration, 2),
        "goodput_buckets": goodput_buckets,
        "attempts": len(attempts),
        "attempts_per_intent": _ratio(len(attempts), len(started), 2),
        "retries": retries,
        "retry_ratio": _ratio(retries, len(attempts)),
        "rejected_locally": rejected,
        "server_invocations_per_intent": (
            _ratio(server_invocations, len(started), 2) if server_invocations is not None else None
        ),
        "model_calls_per_intent": (
            _ratio(model_calls, len(started), 2) if model_calls is not None else None
        ),
        "latency_ms": _ms(latency),
        "failure_kinds": failure_kinds(attempts, rows),
        # Attempts the storm's stop cut while they waited for an answer (not leaks).
        "inflight_at_stop": sum(1 for a in attempts if a[2] is None),
        "early_late_p50_ms": early_late_p50(succeeded),
        "completion_shape": completion_shape(attempts),
    }
    block["arrival"] = arrival_block(meta, rows, t0, planned_s)
    return block


TOP_FAILURES = 3
TOGETHER_S = 0.005
THIRDS_MIN = 9  # successes needed to compare the first third's latency with the last's


def early_late_p50(succeeded: list[dict[str, Any]]) -> list[float] | None:
    """[p50 of the first third, p50 of the last third] of intent latency, by intended start."""
    if len(succeeded) < THIRDS_MIN:
        return None
    ordered = sorted(succeeded, key=lambda r: r["intended"])
    third = len(ordered) // 3
    first = [(r["succeeded"] - r["intended"]) * 1000 for r in ordered[:third]]
    last = [(r["succeeded"] - r["intended"]) * 1000 for r in ordered[-third:]]
    return [round(percentile(first, 50), 1), round(percentile(last, 50), 1)]


def failure_kinds(attempts: list[list[Any]], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The commonest ways attempts failed: kind, HTTP status (0: none came), count, share of
    the attempts that ended, and a sample of one body or exception."""
    ended = [a for a in attempts if a[2] is not None]
    counts = Counter(
        (str(a[3]), int(a[4]) if len(a) > 4 else 0) for a in ended if a[3] not in ("ok", "cut")
    )
    samples: dict[str, str] = {}
    for row in rows:
        for key, text in (row.get("samples") or {}).items():
            samples.setdefault(key, text)
    out = []
    for (kind, status), n in counts.most_common(TOP_FAILURES):
        out.append(
            {
                "kind": kind,
                "status": status,
                "count": n,
                "share": _ratio(n, len(ended)),
                "sample": samples.get(f"{kind} {status}", ""),
            }
        )
    return out


def completion_shape(attempts: list[list[Any]]) -> dict[str, Any]:
    """How answers came out: the clients' mean attempts in flight, and how regular the gaps
    between successful completions were. A staircase (answers one at a time while many wait)
    has near-equal gaps: a small spread around the median gap, and hardly any two answers
    together. Robust statistics, so one scheduling hiccup on a busy machine does not hide it."""
    ended = [a for a in attempts if a[2] is not None]
    ok_ends = sorted(float(a[2]) for a in ended if a[3] == "ok")
    span = (max(a[2] for a in ended) - min(a[1] for a in ended)) if ended else 0.0
    busy = sum(float(a[2]) - float(a[1]) for a in ended)
    gaps = sorted(b - a for a, b in itertools.pairwise(ok_ends))
    shape: dict[str, Any] = {
        "successes": len(ok_ends),
        "mean_in_flight": _ratio(busy, span, 2),
        "median_gap_s": None,
        "gap_spread": None,  # median absolute deviation of the gaps over their median
        "close_share": None,  # share of gaps under a quarter of the median: answers together
    }
    if len(gaps) >= 2:
        median = gaps[len(gaps) // 2]
        shape["median_gap_s"] = round(median, 4)
        if median > 0:
            deviations = sorted(abs(g - median) for g in gaps)
            shape["gap_spread"] = round(deviations[len(deviations) // 2] / median, 3)
        # Answers within 5 ms are together whatever the median (the timestamps are 0.1 ms).
        together = max(median / 4, TOGETHER_S)
        shape["close_share"] = round(sum(1 for g in gaps if g < together) / len(gaps), 3)
    return shape


def arrival_block(
    meta: dict[str, Any], rows: list[dict[str, Any]], t0: float, planned_s: float | None
) -> dict[str, Any] | None:
    """Open model only: achieved rate against the target, late and dropped starts."""
    arrival = meta.get("arrival")
    if not isinstance(arrival, dict):
        return None
    dropped = sum(1 for r in rows if r.get("outcome") == "dropped")
    lags = [r["started"] - r["intended"] for r in rows if r.get("started") is not None]
    late = sum(1 for lag in lags if lag > LATE_S)
    span = planned_s or max((r["intended"] - t0 for r in rows), default=0.0)
    stopped = meta.get("stopped_at")
    if isinstance(stopped, int | float):
        # Locust's run time may end early, and its stop takes a moment before it says so:
        # judge the rate up to half a second before the stop.
        span = min(span, stopped - t0 - STOP_MARGIN_S)
    inside = [r for r in rows if r.get("started") is not None and r["started"] - t0 < span]
    start, end = float(arrival.get("start", 0)), float(arrival.get("end", 0))
    target = (start + end) / 2  # a linear ramp's mean; == the rate when constant
    achieved = len(inside) / span if span > 0 else None
    return {
        "target_per_s": target,
        "achieved_per_s": None if achieved is None else round(achieved, 2),
        "error_pct": _error_pct(achieved, target),
        "late": late,
        "dropped": dropped,
        "start_lag_ms": _ms(lags),
        # A few late starts are scheduling noise; more than 1% of them (and 3) are a limit.
        "generator_limited": dropped > 0 or (late >= 3 and late > 0.01 * len(lags)),
    }


def _error_pct(achieved: float | None, target: float) -> float | None:
    if achieved is None or not target:
        return None
    return round((achieved - target) / target * 100, 2)


def timeline(rows: list[dict[str, Any]], t_ref: float, step_s: float = 1.0) -> list[dict]:
    """1 s buckets from `t_ref` (wall clock) for the plots: goodput by success time; intents,
    attempts per intent and intent latency by intended start."""
    buckets: dict[int, dict[str, Any]] = {}

    def bucket(t: float) -> dict[str, Any]:
        index = int((t - t_ref) // step_s)
        return buckets.setdefault(index, {"ok": 0, "intents": 0, "attempts": 0, "lat": []})

    for r in rows:
        if r.get("outcome") == "dropped":
            continue
        b = bucket(r["intended"])
        b["intents"] += 1
        b["attempts"] += len(sent_attempts(r))
        if r.get("succeeded") is not None:
            b["lat"].append((r["succeeded"] - r["intended"]) * 1000)
            bucket(r["succeeded"])["ok"] += 1
    out = []
    for index in sorted(buckets):
        if index < 0:
            continue
        b = buckets[index]
        lat = b["lat"]
        out.append(
            {
                "t_s": index * step_s + step_s / 2,
                "goodput": b["ok"] / step_s,
                "intents_per_s": b["intents"] / step_s,
                "amplification": b["attempts"] / b["intents"] if b["intents"] else None,
                "intent_p50_ms": percentile(lat, 50) if lat else None,
                "intent_p99_ms": percentile(lat, 99) if lat else None,
            }
        )
    return out


def _served(reading: dict[str, Any]) -> int | None:
    ok, failed = reading.get("server_ok"), reading.get("server_failed")
    return ok + failed if isinstance(ok, int) and isinstance(failed, int) else None


def _delta(end: Any, start: Any) -> int | None:
    return end - start if isinstance(end, int) and isinstance(start, int) else None


def variant_intents(record: Any, run_dir: Path, stuck: Any = None) -> dict[str, Any] | None:
    """One variant's `intents` block from its intents file and the server's counters (at the
    start and the end of its run); None when the storm wrote no intents (other scenarios)."""
    relative = record.files.get("intents")
    if not relative:
        return None
    meta, rows = read_intents(run_dir / relative)
    if not rows:
        return None
    served = _delta(_served(record.final), _served(record.baseline))
    if served is not None and isinstance(stuck, int):
        served += stuck  # received, never answered: still an invocation the server took
    calls = _delta(record.final.get("model_calls"), record.baseline.get("model_calls"))
    phases = meta.get("phases") or []
    planned = phases[-1][2] if phases else None
    return summarize(meta, rows, server_invocations=served, model_calls=calls, planned_s=planned)


def intent_clause(i: dict[str, Any] | None) -> str:
    """For a verdict line: "; 100 of 100 intents succeeded (100.0%), goodput 4.98/s, 6.33
    attempts per intent, intent p99 2724 ms" (empty without intents)."""
    if not i:
        return ""
    ratio, p99 = i.get("success_ratio"), (i.get("latency_ms") or {}).get("p99")
    share = f" ({ratio * 100:.1f}%)" if isinstance(ratio, int | float) else ""
    text = f"; {i.get('succeeded')} of {i.get('counted')} intents succeeded{share}"
    text += f", goodput {_two(i.get('goodput_per_s'))}/s"
    text += f", {_two(i.get('attempts_per_intent'))} attempts per intent"
    return text + (f", intent p99 {p99:.0f} ms" if isinstance(p99, int | float) else "")


def _two(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else "-"
