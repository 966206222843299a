"""The ladder's search and the storm-margin search on modelled targets (no server): which levels
they measure, when they stop, and what they conclude."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from stampede.loadtest.commands.plan import advice
from stampede.loadtest.commands.plan.ladder import (
    LadderOptions,
    knee,
    next_concurrency,
    run_ladder,
    summary,
    warmup_s,
)
from stampede.loadtest.commands.plan.storm_margin import next_duplicates, storm_margin


def _point(n: int, goodput: float, latency_ms: float | None, d: int = 0) -> dict[str, Any]:
    lat = {} if latency_ms is None else {"p50": latency_ms, "p95": latency_ms, "p99": latency_ms}
    return {
        "concurrency": n,
        "duplicates": d,
        "goodput_per_s": goodput,
        "latency_ms": lat,
        "stalled": goodput == 0,
    }


def workers(c: int, s: float, fall_after: int | None = None):
    """A closed system of c workers of service time s; past `fall_after` goodput drops."""

    async def measure(n: int, warmup: float) -> dict[str, Any]:
        x = min(n, c) / s
        if fall_after is not None and n > fall_after:
            x = x * fall_after / n  # retrograde: thrashing
        return _point(n, x, n / x * 1000)

    return measure


def test_finds_knee_and_peak_and_bisects_around_them() -> None:
    opts = LadderOptions(slo_p99_ms=1000, max_concurrency=256)
    points = asyncio.run(run_ladder(workers(6, 0.05), opts))
    s = summary(points, opts)
    assert s["knee_concurrency"] == pytest.approx(6)
    assert s["peak_goodput_per_s"] == pytest.approx(120)
    # Coarse doubling, then bisection between 4 and 8 (around the knee) and at the SLO edge.
    assert {1, 2, 4, 8, 16, 32, 64, 128} <= set(points)
    assert {5, 6} & set(points)
    # p99 = N/120 s reaches 1000 ms at N=120; bisection resolves the edge to a quarter.
    assert 96 <= s["slo_max_concurrency"] <= 120
    assert s["first_slo_breach"] - s["slo_max_concurrency"] <= s["slo_max_concurrency"] // 4
    assert s["first_slo_breach"] is not None and s["first_slo_breach"] > 120
    assert s["stopped_by"].startswith("SLO breach")
    # 128 (p99 1067 ms) breached the SLO but not by the margin (x1.5); 256 (2133 ms) did.
    assert 256 in points and 512 not in points


def test_stops_at_max_concurrency() -> None:
    opts = LadderOptions(slo_p99_ms=60_000, max_concurrency=24)
    points = asyncio.run(run_ladder(workers(4, 0.1), opts))
    assert max(points) == 24
    assert summary(points, opts)["stopped_by"] == "--max-concurrency 24"


def test_a_fall_is_found_and_bisected() -> None:
    opts = LadderOptions(slo_p99_ms=60_000, max_concurrency=512)
    points = asyncio.run(run_ladder(workers(8, 0.1, fall_after=16), opts))
    s = summary(points, opts)
    assert s["peak_goodput_per_s"] == pytest.approx(80)
    assert s["falls_at"] is not None and 16 < s["falls_at"] <= 20
    assert s["collapse_at"] is not None  # goodput below half the peak past N=32
    assert s["stopped_by"] == "collapse"


def test_next_concurrency_starts_at_one_and_knee_needs_it() -> None:
    opts = LadderOptions()
    assert next_concurrency({}, opts) == 1
    assert knee({2: _point(2, 10, 100)}) is None
    assert next_concurrency({1: _point(1, 10, 100)}, opts) == 2


def test_warmup_follows_the_expected_latency() -> None:
    points = {8: _point(8, 40, 200.0)}
    assert warmup_s(points, 16, 2000) == pytest.approx(0.4)  # saturated: latency doubles
    assert warmup_s(points, 10_000, 2000) == pytest.approx(3.0)  # capped at SLO x margin
    assert warmup_s({}, 1, 2000) == pytest.approx(0.3)


def test_duplicate_search_doubles_then_bisects() -> None:
    assert next_duplicates({}, 32) == 1
    assert next_duplicates({1: False, 2: False}, 32) == 4
    assert next_duplicates({1: False, 2: False, 4: False, 8: True}, 32) == 6
    assert next_duplicates({1: False, 2: False, 4: False, 8: True, 6: True, 5: False}, 32) is None
    assert next_duplicates({1: False, 2: False, 4: False}, 4) is None


def test_storm_margin_is_the_first_collapsing_duplicate_count() -> None:
    resets = []

    async def measure(n: int, d: int, policy: str) -> dict[str, Any]:
        # Each duplicate is a full extra request: goodput is 100 / (D + 1); D >= 5 wedges.
        return _point(n, 0.0 if d >= 5 else 100 / (d + 1), 100, d)

    async def reset() -> None:
        resets.append(1)

    storm = asyncio.run(storm_margin(measure, reset, 4, 32))
    assert storm["margin_duplicates"] == 2  # 100/3 < half of 100
    assert storm["wedged_at"] is None  # the search stopped before D=5
    assert resets  # the target restarted after the collapsed step

    async def wedging(n: int, d: int, policy: str) -> dict[str, Any]:
        return _point(n, 0.0 if d >= 5 else 100.0, 100, d)

    storm = asyncio.run(storm_margin(wedging, reset, 4, 32))
    assert storm["margin_duplicates"] == 5 and storm["wedged_at"] == 5


def test_advice_rests_on_the_figures() -> None:
    opts = LadderOptions(slo_p99_ms=1000, max_concurrency=256)
    points = asyncio.run(run_ladder(workers(6, 0.05), opts))
    shape: dict[str, Any] = {
        "label": "t@1cpu",
        "ladder": {"points": [points[n] for n in sorted(points)], "summary": summary(points, opts)},
        "usl": {"fits": False, "reason": "R² 0.800 < 0.9", "r2": 0.8, "sigma": 0.1, "kappa": 0},
        "storm": {"margin_duplicates": None, "max_tested": 32, "concurrency": 6,
                  "baseline_goodput_per_s": 120.0, "steps": []},
    }  # fmt: skip
    shape["figures"] = advice.shape_figures(shape, target_rate=500)
    f = shape["figures"]
    slo_max = shape["ladder"]["summary"]["slo_max_concurrency"]
    assert f["recommended_limit"] == int(slo_max * 0.8)
    assert f["goodput_at_limit"] == pytest.approx(120)  # every level past the knee: 120/s
    assert f["replicas"] == 5  # ceil(500 / 120)
    assert f["storm_margin_duplicates"] == 33 and f["storm_margin_lower_bound"]
    assert f["usl_sigma"] is None  # not quoted
    text = " ".join(advice.shape_advice(shape, 1000, 500))
    limit = f["recommended_limit"]
    assert f"--limit-concurrency {limit}" in text and f"Semaphore({limit})" in text
    assert "need 5 replica(s)" in text and "no retry-storm collapse up to 32" in text
    assert "not quoted: R² 0.800" in advice.fit_sentence(shape)
