"""Backoff between a sender's attempts, drawn from the sender's own seeded RNG."""

from __future__ import annotations

import random

MAX_DOUBLINGS = 6  # caps exponential growth at base x 64, like SDKs' max backoff


def backoff_s(policy: str, attempt: int, base: float, rng: random.Random) -> float:
    """Seconds to wait before retry number `attempt` (1-based)."""
    if policy == "none":
        return 0.0
    if policy == "fixed":
        return base
    ceiling = base * 2 ** min(attempt - 1, MAX_DOUBLINGS)
    if policy == "exponential":
        return ceiling
    # AWS's "full jitter": uniform in [0, exponential ceiling]; budget and adaptive decide
    # *whether* to retry (loadtest/storm/users/retry_control.py) and back off the same way.
    if policy in ("full-jitter", "budget", "adaptive"):
        return rng.uniform(0.0, ceiling)
    raise ValueError(f"unknown retry policy {policy!r}")


def max_backoff_s(policy: str, base: float) -> float:
    """Upper bound of any single backoff, for bounding a sender's total time."""
    return 0.0 if policy == "none" else base * 2**MAX_DOUBLINGS


def attempts(policy: str, max_retries: int) -> int:
    """Total attempts a sender makes at most; policy "none" never retries."""
    return 1 if policy == "none" else 1 + max_retries
