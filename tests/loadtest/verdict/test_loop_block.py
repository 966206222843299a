"""The loop-block rule: probe lag decides when present, else the pings, stacks raise evidence."""

from __future__ import annotations

from stampede.loadtest.verdict.loop_block import (
    BLOCKED_PING_MS,
    lag_figures,
    loop_block_finding,
    ping_figures,
)


def test_ping_figures_use_nearest_rank_percentiles() -> None:
    p = ping_figures([float(v) for v in range(1, 21)], unanswered=2)
    assert (p["n"], p["p50_ms"], p["p95_ms"], p["max_ms"], p["unanswered"]) == (20, 10, 19, 20, 2)
    assert ping_figures([], 0)["p50_ms"] is None


def test_probe_lag_decides_with_exact_evidence_whatever_the_pings_say() -> None:
    fast_pings = ping_figures([2.0] * 30, 0)
    blocked = loop_block_finding(fast_pings, lag_figures(20, 10, 2.0, 4.0), None)
    assert (blocked["finding"], blocked["evidence"]) == ("blocking the loop", "exact")
    assert "ran 2.00 s late in total over a 4.0 s storm (50% of it; 10 of 20" in blocked["reason"]
    clean = loop_block_finding(ping_figures([500.0] * 30, 0), lag_figures(40, 1, 1.9, 4.0), None)
    assert (clean["finding"], clean["evidence"]) == ("clean", "exact")


def test_without_the_probe_the_ping_median_decides_black_box() -> None:
    slow = ping_figures([BLOCKED_PING_MS] * 6 + [1.0] * 5, 0)  # the median is the 6th
    assert loop_block_finding(slow, None, None)["finding"] == "blocking the loop"
    fast = ping_figures([BLOCKED_PING_MS - 1] * 6 + [1.0] * 5, 0)
    finding = loop_block_finding(fast, None, None)
    assert (finding["finding"], finding["evidence"]) == ("clean", "black-box")


def test_stacks_that_caught_a_blocking_call_raise_the_evidence_and_name_the_frame() -> None:
    stacks = {"dumps": 3, "blocked": 2, "blocking_frame": "lookup (sync_tool.py:24)"}
    finding = loop_block_finding(ping_figures([300.0] * 12, 0), None, stacks)
    assert finding["evidence"] == "stacks"
    assert "2 of 3 dumps, in lookup (sync_tool.py:24)" in finding["reason"]
    # A clean loop stays black-box: stacks only ever support a blocking claim.
    assert loop_block_finding(ping_figures([3.0] * 12, 0), None, stacks)["evidence"] == "black-box"


def test_too_few_readings_is_inconclusive_not_clean() -> None:
    finding = loop_block_finding(ping_figures([1.0] * 3, 0), lag_figures(4, 0, 0.0, 3.0), None)
    assert (finding["finding"], finding["evidence"]) == ("inconclusive", None)
