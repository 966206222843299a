"""The idempotency storm (seed 001): duplicates sharing keys, to_thread against future, batched."""

from __future__ import annotations

from typing import Any

from stampede.loadtest.storm.scenarios.scenario import for_hazard
from stampede.loadtest.verdict.intents import intent_clause
from stampede.loadtest.verdict.phases import phase_clause
from stampede.server.hazards import IDEMPOTENCY as SPEC


def waiter_verdict(variants: dict[str, dict[str, Any]]) -> list[str]:
    """e.g. "to_thread wedged at 4.1 s with 6/6 workers parked by waiters"."""
    lines = []
    for name, v in variants.items():
        if v.get("error"):
            lines.append(f"{name} did not run to the end: {v['error']}")
            continue
        parked = f"{v.get('peak_waiter_threads')}/{v.get('executor_max_workers')}"
        if v.get("wedged"):
            when = v.get("wedged_at_s")
            at = f" at {when:.1f} s" if isinstance(when, int | float) else ""
            line = f"{name} wedged{at} with {parked} workers parked by waiters"
        elif v.get("stalled"):
            line = f"{name} stalled (requests in flight, none ending); {parked} parked"
        else:
            line = (
                f"{name} did not wedge; peak {v.get('peak_waiter_threads')} worker(s) parked "
                f"by waiters, peak {v.get('peak_threads')} threads"
            )
        lines.append(line + intent_clause(v.get("intents")) + phase_clause(v.get("phases")))
    return lines


IDEMPOTENCY = for_hazard(
    SPEC,
    "Retry storm of duplicate invocations sharing idempotency keys: the to_thread waiter "
    "parks one executor worker per waiting duplicate, the future waiter (the fix as the SDK "
    "ships it) and the batched waiter (the fix at its cheapest) park none.",
    verdict=waiter_verdict,
)
