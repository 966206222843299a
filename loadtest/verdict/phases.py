"""Metastability read from a phased storm: did goodput come back once the trigger was gone?

`--phases baseline=..,trigger=..,recovery=..` runs one open-model storm in three phases (the
intents file's meta line has their bounds, on the clock the load generator used). Per phase:
intents started, their success ratio, goodput (answers per second during the phase),
amplification (attempts per intent started in it), and intent latency. Then:

- baseline goodput: succeeded intents per second of the baseline phase, after a short
  warm-up, counted by intended start (rate x success: answers bunch, scheduled starts do not);
- `recovery_s`: seconds after the trigger ended until the rolling 3 s goodput, counted the same
  way, is back within 10% of baseline and stays there to the end of the run; `recovered`: it
  did. The last stretch of the run (one baseline p99 latency, at least 1 s) is not judged:
  intents started there had no time to be answered before the stop.

A wedged server never recovers; one whose clients retry without a budget shows the sustaining
effect as amplification that stays high in the recovery phase.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stampede.loadtest.verdict.intents import classify, read_intents, sent_attempts
from stampede.loadtest.verdict.stats import percentile

RECOVERED_SHARE = 0.9  # within 10% of baseline goodput
WINDOW_S = 3
WARMUP_SHARE = 0.25  # at most this much of the baseline is warm-up
WARMUP_MAX_S = 2.0


def _latency(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    values = [(r["succeeded"] - r["intended"]) * 1000 for r in rows if r.get("succeeded")]
    if not values:
        return {"p50": None, "p99": None}
    return {"p50": round(percentile(values, 50), 1), "p99": round(percentile(values, 99), 1)}


def phase_block(
    rows: list[dict[str, Any]], t0: float, start: float, end: float, timeout_s: float
) -> dict[str, Any]:
    """One phase [start, end) (seconds from t0)."""
    started = [
        r for r in rows if r.get("started") is not None and start <= r["intended"] - t0 < end
    ]
    counted = [r for r in started if classify(r, timeout_s) in ("succeeded", "timed_out", "failed")]
    ok = [r for r in counted if r.get("succeeded") is not None]
    answers = sum(1 for r in rows if r.get("succeeded") and start <= r["succeeded"] - t0 < end)
    attempts = sum(len(sent_attempts(r)) for r in started)
    length = max(1e-9, end - start)
    return {
        "start_s": round(start, 3),
        "end_s": round(end, 3),
        "intents": len(started),
        "success_ratio": round(len(ok) / len(counted), 3) if counted else None,
        "goodput_per_s": round(answers / length, 2),
        "amplification": round(attempts / len(started), 2) if started else None,
        "intent_latency_ms": _latency(ok),
    }


def goodput_series(rows: list[dict[str, Any]], t0: float, until: float) -> list[int]:
    """Succeeded intents per second, by *intended start*: an open-model schedule starts the
    same number every second, so this is rate x success and free of the bunching of answers
    (a 3/s storm's answers arrive 2, 4, 3 a second; its starts do not)."""
    buckets = [0] * max(0, int(until))
    for r in rows:
        if r.get("succeeded") is not None:
            index = int(r["intended"] - t0)
            if 0 <= index < len(buckets):
                buckets[index] += 1
    return buckets


def recovery(
    buckets: list[int], trigger_end: int, judged_until: int, baseline: float
) -> float | None:
    """Seconds after `trigger_end` from which every later 3 s window keeps goodput within
    10% of baseline (up to `judged_until`); None if no such point."""
    target = RECOVERED_SHARE * baseline
    windows = range(trigger_end, judged_until - WINDOW_S + 1)
    good = [sum(buckets[s : s + WINDOW_S]) / WINDOW_S >= target for s in windows]
    if not good or not good[-1]:
        return None
    first = len(good)
    while first > 0 and good[first - 1]:
        first -= 1
    return float(first)


def summarize_phases(meta: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    phases = meta.get("phases") or []
    if not phases:
        return None
    t0 = float(meta["t0"])
    timeout_s = float(meta.get("client_timeout") or 0.0)
    stop = float(meta.get("stopped_at") or meta.get("written_at") or t0) - t0
    blocks: dict[str, Any] = {}
    for name, start, end in phases:
        if stop <= start:  # the run ended first (a wedge ends it early): nothing measured
            blocks[name] = {"start_s": start, "end_s": end, "reached": False}
        else:
            blocks[name] = phase_block(rows, t0, start, min(end, stop), timeout_s)
    base_start, base_end = phases[0][1], phases[0][2]
    warmup = min(WARMUP_MAX_S, WARMUP_SHARE * (base_end - base_start))
    warm = phase_block(rows, t0, base_start + warmup, base_end, timeout_s)
    series = goodput_series(rows, t0, stop)
    first, last = int(base_start + warmup), int(base_end)
    baseline = sum(series[first:last]) / max(1, last - first) if stop > base_start + warmup else 0.0
    tail = max(1.0, (warm["intent_latency_ms"]["p99"] or 0) / 1000)
    judged_until = int(stop - tail)
    trigger_end = round(phases[1][2])
    recovery_s = recovery(series, trigger_end, judged_until, baseline) if baseline > 0 else None
    return {
        "trigger": meta.get("trigger"),
        "trigger_applied_at_s": _since(meta.get("trigger_applied_at"), t0),
        "trigger_cleared_at_s": _since(meta.get("trigger_cleared_at"), t0),
        "baseline_goodput_per_s": round(baseline, 2),
        "by_phase": blocks,
        "recovered": recovery_s is not None,
        "recovery_s": recovery_s,
        "judged_until_s": judged_until,
    }


def _since(value: Any, t0: float) -> float | None:
    return round(value - t0, 3) if isinstance(value, int | float) else None


def variant_phases(record: Any, run_dir: Path) -> dict[str, Any] | None:
    relative = record.files.get("intents")
    if not relative:
        return None
    meta, rows = read_intents(run_dir / relative)
    phases = summarize_phases(meta, rows) if rows else None
    if phases is not None and record.events:  # the harness's own trigger (cpu)
        phases.update(record.events)
    return phases


def phase_clause(p: dict[str, Any] | None) -> str:
    """For a verdict line: "; recovered 3 s after the trigger (slow-model:5x)" or "; did not
    recover after the trigger (...)" (empty without phases)."""
    if not p:
        return ""
    trigger = f" ({p['trigger']})" if p.get("trigger") else ""
    if p.get("recovered"):
        return f"; recovered {p['recovery_s']:g} s after the trigger{trigger}"
    return f"; did not recover after the trigger{trigger}"
