"""The shape of a target's answers over a storm: serialized (a staircase of completions while
many wait), timed out (the share of attempts the clients gave up on), degraded against its own
start. Pure: read from a variant's summary; state.py turns them into the target's state.
"""

from __future__ import annotations

from typing import Any

OVERLOADED_TIMEOUT_SHARE = 0.2
# A staircase: many attempts in flight on average, regular gaps between answers, none together.
SERIAL_MIN_SUCCESSES = 6
SERIAL_MIN_IN_FLIGHT = 2.0
SERIAL_MAX_GAP_SPREAD = 0.25
SERIAL_MAX_CLOSE_SHARE = 0.1
SERIAL_MIN_STEP_S = 0.01  # a staircase's step is a real duration, not answers in a burst
DEGRADED_LATENCY_FACTOR = 3.0
DEGRADED_LATENCY_MIN_MS = 250.0


def serialized(v: dict[str, Any]) -> bool:
    shape = (v.get("intents") or {}).get("completion_shape") or {}
    spread, close = shape.get("gap_spread"), shape.get("close_share")
    flying = shape.get("mean_in_flight")
    return (
        (shape.get("successes") or 0) >= SERIAL_MIN_SUCCESSES
        and isinstance(flying, int | float)
        and flying >= SERIAL_MIN_IN_FLIGHT
        and isinstance(spread, int | float)
        and spread <= SERIAL_MAX_GAP_SPREAD
        and isinstance(close, int | float)
        and close <= SERIAL_MAX_CLOSE_SHARE
        and (shape.get("median_gap_s") or 0) >= SERIAL_MIN_STEP_S
    )


def timeout_share(v: dict[str, Any]) -> float:
    kinds = (v.get("intents") or {}).get("failure_kinds") or []
    return sum(
        k.get("share") or 0
        for k in kinds
        if k.get("kind") in ("client_timeout", "duplicate_timeout")
    )


def degraded(v: dict[str, Any]) -> str | None:
    """Why the target is degraded against its own start (None: it is not)."""
    phases = v.get("phases") or {}
    if phases and phases.get("recovered") is False:
        return "goodput did not return to within 10% of its baseline phase"
    early = (v.get("intents") or {}).get("early_late_p50_ms") or []
    if len(early) == 2 and all(isinstance(x, int | float) for x in early):
        first, last = early
        if last > DEGRADED_LATENCY_FACTOR * first and last - first > DEGRADED_LATENCY_MIN_MS:
            return (
                f"intent latency p50 grew from {first:.0f} ms (first third of the intents) "
                f"to {last:.0f} ms (last third)"
            )
    return None
