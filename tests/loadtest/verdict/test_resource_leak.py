"""The resource-leak rule: threads, fds and RSS grown with the load and held after the drain."""

from __future__ import annotations

from typing import Any

from stampede.loadtest.verdict.resource_leak import MIB, leak_label, leak_texts, resource_leaks
from stampede.loadtest.verdict.state import target_state


def storm(threads: Any, inflight: int = 4, n: int = 10, per_row: int = 40, **other: Any) -> list:
    """n sampler rows, `per_row` requests apart; threads(i) (and other columns) per row."""
    rows = []
    for i in range(n):
        row = {"t_s": i * 0.5, "client_requests": (i + 1) * per_row, "client_inflight": inflight}
        row["threads"] = threads(i)
        row.update({k: f(i) for k, f in other.items()})
        rows.append(row)
    return rows


def start(threads: int = 3, rss: int = 60 * MIB, fds: int = 12) -> dict[str, Any]:
    return {"threads": threads, "rss_bytes": rss, "open_fds": fds}


def test_a_thread_per_request_that_never_ends_is_a_leak_with_its_counts() -> None:
    samples = storm(lambda i: 3 + (i + 1) * 40)  # one thread per request, all kept
    out = resource_leaks(samples, start(), {**start(403), "settled": True})
    assert out["leaking"] == ["threads"] and out["evidence"] == "black-box"
    assert out["threads"]["held"] == 400 and out["threads"]["late_growth"] == 200
    [text] = leak_texts(out)
    assert text.startswith("+400 threads left after draining, 3 at start")
    assert "+200 threads over the storm's second half; at most 4 request(s) in flight" in text
    assert leak_label(out) == "+400 threads left after draining"


def test_a_pool_that_filled_at_once_and_kept_its_workers_is_not_a_leak() -> None:
    # anyio's 40 worker threads: all there after the first sample, kept after the storm.
    samples = storm(lambda i: 43, inflight=40)
    out = resource_leaks(samples, start(), {**start(43), "settled": True})
    assert out["leaking"] == [] and out["threads"]["held"] == 40
    # A default executor that grew to 6 workers and kept them.
    samples = storm(lambda i: 3 + min(6, i * 3))
    out = resource_leaks(samples, start(), {**start(9), "settled": True})
    assert out["leaking"] == [] and out["threads"]["held"] == 6


def test_a_pool_still_filling_late_is_no_leak_within_the_work_in_flight() -> None:
    # Grows the whole storm, but never beyond what 32 requests in flight may need.
    samples = storm(lambda i: 3 + i * 3, inflight=32)
    out = resource_leaks(samples, start(), {**start(30), "settled": True})
    assert out["threads"]["late_growth"] >= 8 and out["threads"]["held"] >= 16
    assert out["leaking"] == []


def test_threads_that_end_after_the_drain_or_are_still_ending_are_not_leaks() -> None:
    samples = storm(lambda i: 3 + (i + 1) * 40)
    back = resource_leaks(samples, start(), {**start(4), "settled": True})
    assert back["leaking"] == [] and back["threads"]["held"] == 1
    falling = resource_leaks(samples, start(), {**start(300), "settled": False})
    assert falling["leaking"] == [] and falling["settled"] is False


def test_rss_leaks_only_far_beyond_what_an_allocator_keeps() -> None:
    # 30 MiB kept after a storm (arenas, caches): not a leak.
    samples = storm(lambda i: 5, rss_bytes=lambda i: 60 * MIB + min(i, 3) * 10 * MIB)
    out = resource_leaks(samples, start(), {**start(5, rss=90 * MIB), "settled": True})
    assert out["leaking"] == [] and out["rss_bytes"]["held"] == 30 * MIB
    # 20 MiB per row, all the storm, all of it held: a leak.
    samples = storm(lambda i: 5, rss_bytes=lambda i: 60 * MIB + i * 20 * MIB)
    out = resource_leaks(samples, start(), {**start(5, rss=240 * MIB), "settled": True})
    assert out["leaking"] == ["rss_bytes"]
    assert leak_texts(out)[0].startswith("+180.0 MiB left after draining, 60.0 MiB at start")
    assert leak_texts(out)[0].endswith("; +450.0 MiB per 1,000 requests)")


def test_fds_leak_beyond_two_per_request_in_flight() -> None:
    samples = storm(lambda i: 5, open_fds=lambda i: 12 + i * 10, inflight=8)
    out = resource_leaks(samples, start(5), {**start(5, fds=102), "settled": True})
    assert out["leaking"] == ["open_fds"]
    samples = storm(lambda i: 5, open_fds=lambda i: 12 + i * 10, inflight=50)
    out = resource_leaks(samples, start(5), {**start(5, fds=102), "settled": True})
    assert out["leaking"] == []


def test_a_probed_url_target_counts_its_threads_itself_exactly() -> None:
    rows = storm(lambda i: 3 + i * 40)
    samples = [{**row, "process_threads": row.pop("threads")} for row in rows]
    out = resource_leaks(samples, {}, {}, {"process_threads": 3}, {"process_threads": 363})
    assert out["leaking"] == ["threads"] and out["evidence"] == "exact"


def test_too_few_readings_decide_nothing() -> None:
    samples = storm(lambda i: 3 + i * 100, n=3)  # two rows in the second half
    out = resource_leaks(samples, start(), {**start(400), "settled": True})
    assert out["threads"]["late_growth"] is None and out["leaking"] == []


def variant(resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "target": {"kind": "command", "command": "uvicorn app:app"},
        "probed": False,
        "wedged": False,
        "wedge_evidence": "stall",
        "stalled": False,
        "stall_s": 5.0,
        "requests": {"ok": 400, "failed": 0},
        "intents": {"counted": 400, "succeeded": 400, "success_ratio": 1.0},
        "loop_errors": {},
        "resources": resources,
    }


def test_the_state_is_leaking_with_black_box_evidence_and_the_counts() -> None:
    samples = storm(lambda i: 3 + (i + 1) * 40)
    resources = resource_leaks(samples, start(), {**start(403), "settled": True})
    state = target_state(variant(resources))
    assert state.state == "leaking" and state.evidence == "black-box"
    assert state.label == "leaking: +400 threads left after draining"
    claim = next(c for c in state.claims if "threads left" in c.text)
    assert claim.evidence == "black-box" and "3 at start" in claim.text


def test_the_state_of_a_pool_that_kept_its_workers_is_healthy() -> None:
    resources = resource_leaks(storm(lambda i: 9), start(), {**start(9), "settled": True})
    state = target_state(variant(resources))
    assert state.state == "healthy" and not any("left after" in c.text for c in state.claims)


def test_rss_held_in_proportion_to_a_big_storm_is_not_a_leak() -> None:
    # A fix that reaps sessions on idle after 10,000 of them: +124 MiB held, +12.4 MiB per
    # 1,000 requests (the state_leak detector's bound is 16 per 1,000).
    samples = storm(lambda i: 5, per_row=1000, rss_bytes=lambda i: 60 * MIB + i * 12.4 * MIB)
    out = resource_leaks(samples, start(5), {**start(5, rss=184 * MIB), "settled": True})
    row = out["rss_bytes"]
    assert row["held"] >= 64 * MIB and row["late_growth"] >= 32 * MIB
    assert row["held_per_1000"] == 12.4 * MIB and out["leaking"] == []
