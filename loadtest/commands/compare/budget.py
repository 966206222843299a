"""How long a compare run may take, and how much of it each variant gets.

The whole run ends by (duration + 8 s) x variants + 20 s whatever the target does (each
variant's server and Locust start-up is seconds on a busy machine: 8 s measured at a load
average of 6, so the slack grows with the variants); each variant gets a
deadline that leaves room for the variants after it (their duration plus the overhead measured
on the variants before), its teardown is cut to the run's hard end, and the report has its
reserve after that.
"""

from __future__ import annotations

SLACK_S = 20.0  # the run's budget is (duration + PER_VARIANT_SLACK_S) x variants + SLACK_S
PER_VARIANT_SLACK_S = 8.0
REPORT_RESERVE_S = 4.0  # plots and reports after the last variant (about 1.5 s for 3 variants)
# The summary and the report after the last figure: figures that would eat into it are skipped
# (a busy machine draws one in 1.5 s instead of 0.3 s) and the report says so.
PLOT_RESERVE_S = 1.0
# A variant's wall time beyond its duration of load: server start-up and first gc pass, Locust
# start-up and exit, teardown with its gc pass (about 3-4 s on 2 cores). Guessed only until the
# first variant has run; after that the largest measured so far, plus a margin.
OVERHEAD_GUESS_S = 6.0
TEARDOWN_GUESS_S = 3.0
MEASURED_MARGIN_S = 1.0
MIN_VARIANT_S = 2.0  # less time than this left: skip the variant rather than start a server


def budget_s(duration_s: float, variants: int) -> float:
    return (duration_s + PER_VARIANT_SLACK_S) * variants + SLACK_S


def variant_cap(
    *, now: float, hard_end: float, later: int, duration_s: float, overhead_s: float,
    teardown_s: float, teardown_min_s: float,
) -> float:  # fmt: skip
    """When one variant's start-up and load must end (monotonic clock).

    By need: each of the `later` variants keeps its duration plus `overhead_s`, and this one
    its own teardown. Never less than an equal share of what is left, so a pessimistic overhead
    (the guess, before anything was measured) cannot starve the variant at hand; the cap only
    binds a variant that overruns, and that only squeezes the later ones, which re-plan from
    what is left. Never later than `teardown_min_s` before the hard end: the least a teardown
    needs once its waits are cut to that end.
    """
    by_need = hard_end - teardown_s - later * (duration_s + overhead_s)
    fair = now + (hard_end - now) / (later + 1)
    return min(max(by_need, fair), hard_end - teardown_min_s)
