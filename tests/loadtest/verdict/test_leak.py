"""The leak rule: a slope per 1,000 sessions that keeps growing, and state still held after."""

from __future__ import annotations

import pytest
from stampede.loadtest.verdict.leak import MIB, leak_finding, slope


def test_slope_is_least_squares_and_none_without_spread() -> None:
    assert slope([0, 1, 2, 3], [1, 3, 5, 7]) == pytest.approx(2.0)
    assert slope([1, 1, 1], [1, 2, 3]) is None
    assert slope([1], [1]) is None


def points(n: int, per_session: dict[str, float], plateau_at: int | None = None) -> list[dict]:
    out = []
    for i in range(1, n + 1):
        sessions = i * 100
        held = min(sessions, plateau_at) if plateau_at else sessions
        out.append({"sessions": sessions, **{m: 1000 + v * held for m, v in per_session.items()}})
    return out


def test_state_kept_per_session_is_a_leak_with_its_rate() -> None:
    per = {"rss_bytes": 32 * 1024, "event_loop_tasks": 1.0, "open_fds": 0.0}
    start = {"rss_bytes": 1000, "event_loop_tasks": 1000, "open_fds": 1000}
    end = {m: 1000 + v * 2000 for m, v in per.items()}
    finding = leak_finding(points(20, per), start, end, sessions=2000)
    assert (finding["finding"], finding["evidence"]) == ("leaking", "exact")
    assert finding["leaking"] == ["rss_bytes", "event_loop_tasks"]
    assert finding["per_1000"]["event_loop_tasks"] == pytest.approx(1000)
    assert finding["per_1000"]["rss_bytes"] / MIB == pytest.approx(31.25)
    assert "+31.2 MiB and +1000 tasks and +0 fds per 1,000 sessions" in finding["reason"]


def test_a_plateau_that_keeps_its_memory_is_not_a_leak() -> None:
    # A reaper: state for at most 1,000 live sessions, RSS kept by the allocator afterwards.
    per = {"rss_bytes": 64 * 1024, "event_loop_tasks": 1.0}
    start = {"rss_bytes": 1000, "event_loop_tasks": 1000}
    end = {"rss_bytes": 1000 + 64 * 1024 * 1000, "event_loop_tasks": 1001}
    finding = leak_finding(points(20, per, plateau_at=1000), start, end, sessions=2000)
    assert (finding["finding"], finding["leaking"]) == ("clean", [])
    assert finding["held_per_1000"]["rss_bytes"] > 16 * MIB  # held, but no longer growing
    assert finding["per_1000"]["rss_bytes"] == pytest.approx(0)


def test_without_the_probe_tasks_are_unknown_and_evidence_is_black_box() -> None:
    per = {"rss_bytes": 32 * 1024}
    finding = leak_finding(
        points(10, per), {"rss_bytes": 1000}, {"rss_bytes": 1000 + 32 * 1024 * 1000}, 1000
    )
    assert (finding["finding"], finding["evidence"]) == ("leaking", "black-box")
    assert "event_loop_tasks" not in finding["per_1000"]


def test_too_few_sessions_is_inconclusive() -> None:
    finding = leak_finding(points(5, {"rss_bytes": 1.0}), {}, {}, sessions=50)
    assert finding["finding"] == "inconclusive"


def test_no_metric_with_its_readings_is_inconclusive_not_clean() -> None:
    finding = leak_finding(points(5, {"rss_bytes": 1.0}), {}, {}, sessions=500)
    assert (finding["finding"], finding["evidence"]) == ("inconclusive", None)


def test_a_short_second_half_still_fits_the_last_readings() -> None:
    # Four readings, the second half by sessions has two: the last three are fitted.
    pts = [{"sessions": s, "rss_bytes": 1000 + 32 * 1024 * s} for s in (100, 200, 300, 1000)]
    end = {"rss_bytes": 1000 + 32 * 1024 * 1000}
    finding = leak_finding(pts, {"rss_bytes": 1000}, end, sessions=1000)
    assert finding["finding"] == "leaking"
    assert finding["per_1000"]["rss_bytes"] / MIB == pytest.approx(31.25)
