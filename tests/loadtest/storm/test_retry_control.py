"""Retry budget (Envoy) and adaptive throttling (SRE): when each one says no."""

from __future__ import annotations

import random

from stampede.loadtest.storm.users import retry_control
from stampede.loadtest.storm.users.retry_control import AdaptiveThrottle, RetryBudget, guard_for


def test_budget_caps_retries_at_a_share_of_attempts_in_flight_with_a_floor() -> None:
    budget, rng = RetryBudget(share=0.2, min_concurrency=3), random.Random(0)
    for _ in range(20):  # 20 first attempts in flight: room for max(3, 0.2 x 20) = 4 retries
        assert budget.allow(False, rng)
        budget.begin(False)
    allowed = 0
    while budget.allow(True, rng) and allowed < 100:
        budget.begin(True)
        allowed += 1
    assert allowed == 5  # 4 retries -> 24 in flight -> 0.2 x 24 = 4.8 leaves room for a 5th
    assert budget.denied == 1
    budget.end(True, "ok")
    assert budget.allow(True, rng)  # one retry done: room again
    small = RetryBudget(share=0.2, min_concurrency=3)
    for _ in range(3):  # with almost nothing in flight the floor still allows 3 retries
        assert small.allow(True, rng)
        small.begin(True)
    assert not small.allow(True, rng)


def test_adaptive_throttling_follows_the_sre_formula() -> None:
    throttle, rng = AdaptiveThrottle(k=2.0, window_s=10.0), random.Random(1)
    for _ in range(10):
        throttle.end(False, "ok")  # 10 requests, 10 accepts
    assert throttle.reject_probability() == 0.0
    for _ in range(30):
        throttle.end(False, "client_timeout")  # 40 requests, 10 accepts
    assert throttle.reject_probability() == (40 - 2 * 10) / 41
    rejected = sum(not throttle.allow(False, rng) for _ in range(200))
    # A local rejection is a request the application made: p climbs toward 1 as they count.
    assert rejected > 100 and throttle.requests == 40 + rejected and throttle.accepts == 10
    assert throttle.reject_probability() == (40 + rejected - 20) / (40 + rejected + 1)
    # The window forgets: a minute later nothing is remembered.
    assert throttle.reject_probability(now=throttle.events[-1][0] + 60) == 0.0


def test_guards_are_shared_per_target_and_policy() -> None:
    retry_control.reset_guards()
    assert guard_for("a", "budget") is guard_for("a", "budget")
    assert guard_for("a", "budget") is not guard_for("b", "budget")
    assert isinstance(guard_for("a", "adaptive"), AdaptiveThrottle)
    assert guard_for("a", "full-jitter").allow(True, random.Random(0))
    retry_control.reset_guards()
