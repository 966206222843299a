"""The run's budget: every variant gets its start-up and load, and the run ends in time."""

from __future__ import annotations

import pytest
from stampede.loadtest.commands.compare.budget import (
    MEASURED_MARGIN_S,
    MIN_VARIANT_S,
    OVERHEAD_GUESS_S,
    REPORT_RESERVE_S,
    TEARDOWN_GUESS_S,
    budget_s,
    variant_cap,
)
from stampede.loadtest.storm.runner import LOCUST_STOP_S, SERVER_STOP_S, SETTLE_S, TEARDOWN_MIN_S


def simulate(variants: int, duration_s: float, startup_s: float, teardown_s: float,
             misbehave: bool) -> tuple[list[float], float, float]:  # fmt: skip
    """Plan a run the way the compare run does, each variant measured after it ran.

    Well-behaved variants use start-up + duration + teardown; misbehaving ones run to their
    cap and then take every teardown wait in full (as far as the runner's cut allows).
    Returns (each variant's time for start-up and load, when the run ended, its budget).
    """
    budget = budget_s(duration_s, variants)
    hard_end = budget - REPORT_RESERVE_S
    now, given, overheads, teardowns = 0.0, [], [], []
    for index in range(variants):
        measured = bool(overheads)
        cap = variant_cap(
            now=now, hard_end=hard_end, later=variants - index - 1, duration_s=duration_s,
            overhead_s=max(overheads) + MEASURED_MARGIN_S if measured else OVERHEAD_GUESS_S,
            teardown_s=max(teardowns) + MEASURED_MARGIN_S if measured else TEARDOWN_GUESS_S,
            teardown_min_s=TEARDOWN_MIN_S,
        )  # fmt: skip
        if cap - now < MIN_VARIANT_S:
            given.append(0.0)
            continue
        given.append(cap - now)
        if misbehave:
            worst = LOCUST_STOP_S + SETTLE_S + 1.5 + SERVER_STOP_S  # the waits the runner cuts
            cut = max(0.0, min(worst, hard_end - TEARDOWN_MIN_S - cap))
            end = cap + cut + TEARDOWN_MIN_S
        else:
            end = min(cap, now + startup_s + duration_s) + teardown_s
        overheads.append(end - now - duration_s)
        teardowns.append(teardown_s)
        now = end
    return given, now + REPORT_RESERVE_S, budget


@pytest.mark.parametrize("variants", [1, 2, 3, 4])
@pytest.mark.parametrize("duration_s", [3.0, 20.0])
def test_every_variant_gets_its_start_up_and_load(variants: int, duration_s: float) -> None:
    # Start-up and teardown as measured on 2 cores (~2.1 s: server, its first gc pass, Locust;
    # ~1.3 s with the final gc pass) with headroom. With these, 4 variants fit the 30 s slack
    # next to the report's and the last teardown's reserves; the first variant is planned with
    # the overhead guess, the later ones with the measured overhead.
    startup_s, teardown_s = 3.0, 1.5
    given, ended, budget = simulate(variants, duration_s, startup_s, teardown_s, False)
    assert all(g >= startup_s + duration_s for g in given), given
    assert ended <= budget


@pytest.mark.parametrize("variants", [1, 2, 3, 6])
def test_run_ends_within_budget_whatever_the_target_does(variants: int) -> None:
    # Every variant holds on to its cap and to every teardown wait: later ones get squeezed
    # (or skipped), but the run, report included, still ends within its budget.
    given, ended, budget = simulate(variants, 3.0, 3.0, 1.5, True)
    assert ended <= budget + 1e-9, (ended, budget, given)
    assert given[0] >= 3.0 + 3.0, "the first variant is not starved by the guess"


def test_measured_overhead_replaces_the_guess() -> None:
    # With a small measured overhead the current variant may use what the guess reserved.
    common = {"now": 0.0, "hard_end": 35.0, "later": 2, "duration_s": 3.0, "teardown_s": 2.0,
              "teardown_min_s": 6.0}  # fmt: skip
    guessed = variant_cap(overhead_s=OVERHEAD_GUESS_S, **common)
    measured = variant_cap(overhead_s=3.0, **common)
    assert measured - guessed == pytest.approx(2 * (OVERHEAD_GUESS_S - 3.0))
    # Never closer to the hard end than a cut teardown needs, however little is left after.
    assert variant_cap(overhead_s=0.0, **{**common, "later": 0}) == 35.0 - 6.0
