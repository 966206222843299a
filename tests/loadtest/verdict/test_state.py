"""One state per target, each claim with its evidence; no sentence the counts contradict."""

from __future__ import annotations

from typing import Any

from stampede.loadtest.verdict.state import target_state, verdict_lines


def variant(**over: Any) -> dict[str, Any]:
    """A healthy command target's summary fields, as results.py writes them."""
    base: dict[str, Any] = {
        "target": {"kind": "command", "command": "uvicorn app:app"},
        "wedged": False,
        "wedge_evidence": "stall",
        "stalled": False,
        "stall_s": 2.0,
        "ended": "completed",
        "loop_errors": {},
        "requests": {"ok": 60, "failed": 0},
        "intents": {
            "counted": 20,
            "succeeded": 20,
            "success_ratio": 1.0,
            "failure_kinds": [],
            "inflight_at_stop": 0,
            "completion_shape": {
                "successes": 60,
                "mean_in_flight": 6.0,
                "gap_spread": 0.9,
                "close_share": 0.5,
            },
        },
    }
    for key, value in over.items():
        if key == "intents":
            base["intents"] = {**base["intents"], **value}
        else:
            base[key] = value
    return base


def test_a_healthy_target_is_healthy_and_says_successes_kept_coming() -> None:
    s = target_state(variant())
    assert (s.state, s.success_ratio) == ("healthy", 1.0)
    text = " ".join(verdict_lines("app", variant()))
    assert "successes kept coming" in text and "20 of 20 intents succeeded" in text


def test_zero_successes_is_failing_and_never_claims_progress() -> None:
    failures = [{"kind": "http_error", "status": 406, "count": 90, "share": 1.0, "sample": "no"}]
    v = variant(
        requests={"ok": 0, "failed": 90},
        intents={"succeeded": 0, "success_ratio": 0.0, "failure_kinds": failures},
    )
    s = target_state(v)
    assert s.state == "failing" and s.evidence == "counts"
    text = " ".join(verdict_lines("app", v))
    assert "successes kept coming" not in text
    assert "100% HTTP 406: no" in text and "0 of 20 intents succeeded" in text
    assert "none of them successfully" in text


def test_failure_kinds_name_status_share_and_sample() -> None:
    kinds = [
        {
            "kind": "http_error",
            "status": 500,
            "count": 88,
            "share": 0.88,
            "sample": '{"detail":"ConcurrencyException: Agent is already processing"}',
        }
    ]
    v = variant(intents={"succeeded": 6, "success_ratio": 0.3, "failure_kinds": kinds})
    assert target_state(v).state == "failing"
    assert '88% HTTP 500: {"detail":"ConcurrencyException' in verdict_lines("app", v)[1]


def test_a_wedge_needs_exact_or_stacks_evidence() -> None:
    stall_only = variant(wedged=True, wedge_evidence="stall", stalled=True)
    assert target_state(stall_only).state != "wedged"
    stacks = variant(
        wedged=True,
        wedge_evidence="stacks",
        stalled=True,
        stacks_file="stacks/app.txt",
        pools=[
            {
                "pool": "anyio",
                "workers": 8,
                "parked": 8,
                "wedged": True,
                "top_frames": ["ac_app.py:151 in handler"],
            }
        ],
        intents={"succeeded": 0, "success_ratio": 0.0},
    )
    s = target_state(stacks)
    assert (s.state, s.evidence) == ("wedged", "stacks")
    assert "all 8 worker(s) of anyio parked at ac_app.py:151 in handler" in s.claims[1].text
    exact = variant(wedged=True, wedge_evidence="exact", probed=True, parked_executor_threads=4)
    assert target_state(exact).state == "wedged"


def test_a_probed_stall_without_the_probes_flag_is_stalled_the_probe_saw_no_wedge() -> None:
    v = variant(wedged=False, wedge_evidence="exact", stalled=True, probed=True, stalled_at_s=3.0)
    s = target_state(v)
    assert s.state == "stalled" and s.label == "stalled; the probe saw no wedge"
    assert "the probe saw no wedge" in s.claims[1].text
    assert "WEDGED" not in " ".join(verdict_lines("app", v))


def test_a_staircase_of_answers_is_serialized() -> None:
    shape = {
        "successes": 13,
        "mean_in_flight": 7.0,
        "median_gap_s": 0.2,
        "gap_spread": 0.02,
        "close_share": 0.0,
    }
    s = target_state(variant(intents={"completion_shape": shape}))
    assert s.label == "serialized: at most 1 answer in progress"
    few = {**shape, "mean_in_flight": 1.0}  # one at a time because only one was asked
    assert target_state(variant(intents={"completion_shape": few})).state == "healthy"
    # Seen on a parallel server: bursts of answers 0.1 ms apart look "regular" at that scale.
    burst = {**shape, "median_gap_s": 0.0001}
    assert target_state(variant(intents={"completion_shape": burst})).state == "healthy"


def test_leaks_count_only_after_the_drain_and_in_flight_is_its_own_line() -> None:
    v = variant(probed=True, leaked_tasks=18, leaked_tasks_settled=True)
    assert target_state(v).state == "leaking"
    # 12 requests still finishing hold 12 tasks: no leak (seen: "18 task(s) leaked").
    busy = variant(
        probed=True, leaked_tasks=12, leaked_tasks_settled=True, intents={"inflight_at_stop": 12}
    )
    assert target_state(busy).state == "healthy"
    draining = variant(
        probed=True, leaked_tasks=18, leaked_tasks_settled=False, intents={"inflight_at_stop": 19}
    )
    s = target_state(draining)
    assert s.state == "healthy"
    texts = [c.text for c in s.claims]
    assert "19 request(s) still in flight when the storm stopped" in texts
    assert not any("leaked" in t and "not counted" not in t for t in texts)
    drained = variant(probed=True, leaked_tasks=0, leaked_tasks_settled=True)
    assert target_state(drained).state == "healthy"


def test_a_url_target_never_claims_to_have_read_its_stderr() -> None:
    v = variant(target={"kind": "url", "url": "http://127.0.0.1:9"})
    text = " ".join(verdict_lines("mine", v))
    assert "stderr" in text and "read from its stderr" not in text
    assert "loop errors unknown" in text


def test_loop_errors_make_it_erroring_and_no_answer_at_all_is_no_health() -> None:
    v = variant(loop_errors={"cancel_scope": 3})
    assert target_state(v).state == "erroring"
    silent = variant(
        requests={"ok": 0, "failed": 0},
        intents={"counted": 0, "succeeded": 0, "success_ratio": None, "inflight_at_stop": 24},
    )
    assert target_state(silent).state == "stalled"
    assert target_state(variant(error="boom")).state == "not run"


def test_a_few_tasks_left_by_a_big_storm_are_no_leak_and_say_so() -> None:
    # The session store's fix, probed: 5 tasks left after 2,879 sessions (1.7 per 1,000).
    v = variant(probed=True, leaked_tasks=5, leaked_tasks_settled=True)
    v["requests"] = {"ok": 2879, "failed": 0}
    s = target_state(v)
    assert s.state == "healthy"
    claim = next(c for c in s.claims if "task(s) left" in c.text)
    assert "(1.7 per 1,000 requests, under the 100 a leak needs)" in claim.text
    v["requests"] = {"ok": 40, "failed": 0}  # the same 5 after 40 requests: 125 per 1,000
    assert target_state(v).state == "leaking"
