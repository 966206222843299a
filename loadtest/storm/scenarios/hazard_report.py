"""How `stampede compare` reads the stream and session hazards: summary fields and verdicts.

Hooked into the stream and session scenarios (loadtest/storm/scenarios/):
`hazard_summary(kind)` adds a `hazard` block to each variant of summary.json — the triggers
sent, the errors of the hazard's kind, errors per trigger, live tasks above baseline — and
`hazard_verdict(...)` turns those into one line per variant: flagged, clean, or inconclusive
when no load reached it. A variant is flagged when the server reported the hazard's loop error
at all, or was left holding tasks it should have finished. `figures()` are the scenarios' extra
plots (loadtest/report/plots.py draws them).
"""

from __future__ import annotations

from typing import Any

from stampede.loadtest.storm.scenarios.scenario import SummaryHook, VerdictHook
from stampede.loadtest.verdict.figures import Figure, Series
from stampede.probe.metrics import LOOP_ERROR_KINDS

# Tasks a clean run may legitimately still hold at the final scrape (in-flight requests).
LEAK_TOLERANCE = 4
KIND_WORDS = {
    "cancel_scope": "cancel-scope RuntimeError",
    "task_destroyed_pending": '"Task was destroyed but it is pending"',
}


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


def _peak_tasks_above_baseline(record: Any) -> int | None:
    baseline = record.baseline.get("event_loop_tasks")
    tasks = [s["event_loop_tasks"] for s in record.samples if "event_loop_tasks" in s]
    if not isinstance(baseline, int | float) or not tasks:
        return None
    return int(max(tasks) - baseline)


def hazard_summary(kind: str) -> SummaryHook:
    """Summary hook: the `hazard` block of one variant, for the loop-error kind `kind`."""

    def hook(record: Any, summary: dict[str, Any]) -> dict[str, Any]:
        requests = summary.get("requests", {})
        triggers = _int(requests.get("ok")) + _int(requests.get("failed"))
        errors = _int(summary.get("loop_errors", {}).get(kind))
        leaked = summary.get("leaked_tasks")
        flagged = errors > 0 or (isinstance(leaked, int) and leaked > LEAK_TOLERANCE)
        return {
            "hazard": {
                "kind": kind,
                "triggers": triggers,
                "errors": errors,
                "errors_per_trigger": round(errors / triggers, 3) if triggers else None,
                "peak_tasks_above_baseline": _peak_tasks_above_baseline(record),
                "flagged": flagged,
                "result": "flagged" if flagged else "clean" if triggers else "inconclusive",
            }
        }

    return hook


def hazard_verdict(trigger: str) -> VerdictHook:
    """Verdict hook: one line per variant, naming what `trigger` (e.g. "dropped stream") did."""

    def verdict(variants: dict[str, dict[str, Any]]) -> list[str]:
        return [_line(name, v, trigger) for name, v in variants.items()]

    return verdict


def _line(name: str, v: dict[str, Any], trigger: str) -> str:
    if v.get("error"):
        return f"{name} did not run to the end: {v['error']}"
    h = v.get("hazard") or {}
    n, errors = _int(h.get("triggers")), _int(h.get("errors"))
    words = KIND_WORDS.get(str(h.get("kind")), str(h.get("kind")))
    leaked, peak = v.get("leaked_tasks"), h.get("peak_tasks_above_baseline")
    tasks = f"live tasks peaked {_fmt(peak)} above baseline, {_fmt(leaked)} left at the end"
    if not h.get("flagged") and n == 0:
        # No load reached it: "clean" would claim what was never tested.
        return f"{name} inconclusive: no {trigger}s ran (ended: {v.get('ended')})"
    if h.get("flagged"):
        rate = h.get("errors_per_trigger")
        per = f" ({rate:.2f} per {trigger})" if isinstance(rate, float) else ""
        return f"{name} FLAGGED: {errors} {words} over {n} {trigger}s{per}; {tasks}"
    others = sum(_int(c) for c in (v.get("loop_errors") or {}).values())
    return f"{name} clean: 0 {words} over {n} {trigger}s, {others} loop errors; {tasks}"


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:+d}" if isinstance(value, int) else str(value)


def figures() -> tuple[Figure, ...]:
    """The hazard scenarios' own figures, drawn after the standard ones: loop errors by kind
    (the sampler's `loop_errors_<kind>` columns, cumulative as the server counts them), and
    live tasks against the variant's start baseline, so a leak reads as a widening gap."""
    by_kind = tuple(Series(kind, f"loop_errors_{kind}") for kind in LOOP_ERROR_KINDS)
    return (
        Figure(
            "loop_errors.png",
            "Loop errors by kind (cumulative)",
            "reports",
            by_kind,  # no "all kinds" line: it would hide under the one kind that occurs
        ),
        Figure(
            "live_tasks.png",
            "Live asyncio tasks (dashed: at start, after a gc pass)",
            "tasks",
            (Series("tasks not done", "event_loop_tasks"),),
            reference="baseline_tasks",
            reference_label="baseline",
        ),
    )
