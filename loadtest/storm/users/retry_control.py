"""Client-side retry control shared by every sender of one Locust process and target.

- `RetryBudget` (Envoy's retry_budget): a retry may start only while retries in flight stay
  under `budget` x attempts in flight, or under `min_concurrency`, whichever is larger.
- `AdaptiveThrottle` (Google SRE book, "Client-side throttling"): every attempt, first ones
  included, is rejected locally with probability max(0, (requests - K x accepts) /
  (requests + 1)) over a trailing window; an accept is an answer that is not an overload sign.

Both draw from the caller's seeded RNG, so a seeded run makes the same choices.
"""

from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import dataclass, field

BUDGET_SHARE = 0.2  # Envoy's default budget_percent
MIN_RETRY_CONCURRENCY = 3  # Envoy's default min_retry_concurrency
ADAPTIVE_K = 2.0  # the SRE book's multiplier
ADAPTIVE_WINDOW_S = 10.0  # the book says two minutes; a storm run lasts tens of seconds
# Answers that say "the backend did not take it": they do not count as accepts.
NOT_ACCEPTED = frozenset(
    {"client_timeout", "duplicate_timeout", "throttled", "aborted", "connection_error"}
)


@dataclass
class RetryBudget:
    share: float = BUDGET_SHARE
    min_concurrency: int = MIN_RETRY_CONCURRENCY
    active: int = 0
    active_retries: int = 0
    denied: int = 0

    def allow(self, retry: bool, rng: random.Random) -> bool:
        if retry and self.active_retries >= max(self.min_concurrency, self.share * self.active):
            self.denied += 1
            return False
        return True

    def begin(self, retry: bool) -> None:
        self.active += 1
        self.active_retries += int(retry)

    def end(self, retry: bool, outcome: str) -> None:
        self.active -= 1
        self.active_retries -= int(retry)


@dataclass
class AdaptiveThrottle:
    k: float = ADAPTIVE_K
    window_s: float = ADAPTIVE_WINDOW_S
    events: deque[tuple[float, bool]] = field(default_factory=deque)  # (when, accepted)
    requests: int = 0
    accepts: int = 0
    denied: int = 0

    def _prune(self, now: float) -> None:
        while self.events and self.events[0][0] < now - self.window_s:
            _, accepted = self.events.popleft()
            self.requests -= 1
            self.accepts -= int(accepted)

    def reject_probability(self, now: float | None = None) -> float:
        self._prune(time.monotonic() if now is None else now)
        return max(0.0, (self.requests - self.k * self.accepts) / (self.requests + 1))

    def allow(self, retry: bool, rng: random.Random) -> bool:
        now = time.monotonic()
        p = self.reject_probability(now)
        if rng.random() < p:
            # A local rejection is still a request the application made (the SRE formula).
            self.events.append((now, False))
            self.requests += 1
            self.denied += 1
            return False
        return True

    def begin(self, retry: bool) -> None:
        pass

    def end(self, retry: bool, outcome: str) -> None:
        accepted = outcome not in NOT_ACCEPTED
        self.events.append((time.monotonic(), accepted))
        self.requests += 1
        self.accepts += int(accepted)


class Unlimited:
    """Every other policy: nothing is denied locally."""

    denied = 0

    def allow(self, retry: bool, rng: random.Random) -> bool:
        return True

    def begin(self, retry: bool) -> None:
        pass

    def end(self, retry: bool, outcome: str) -> None:
        pass


Guard = RetryBudget | AdaptiveThrottle | Unlimited
_GUARDS: dict[tuple[str, str], Guard] = {}


def guard_for(variant: str, policy: str, budget: float = BUDGET_SHARE) -> Guard:
    """The process-wide guard of one target under `policy` (shared by all its senders)."""
    key = (variant, policy)
    if key not in _GUARDS:
        if policy == "budget":
            _GUARDS[key] = RetryBudget(share=budget)
        elif policy == "adaptive":
            _GUARDS[key] = AdaptiveThrottle()
        else:
            _GUARDS[key] = Unlimited()
    return _GUARDS[key]


def reset_guards() -> None:
    _GUARDS.clear()
