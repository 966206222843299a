"""The thread-limiter, slot-release and shared-agent detectors, on made-up rows and stacks."""

from __future__ import annotations

from stampede.loadtest.observe.stack_evidence import StackEvidence, ThreadStack
from stampede.loadtest.verdict import shared_agent, slot_release, thread_limiter


def _rows(borrowed: list[int], waiting: list[int], ok: list[int]) -> list[dict[str, object]]:
    return [
        {"t_s": i * 0.5, "anyio_tokens_total": 40, "anyio_tokens_borrowed": b,
         "anyio_waiting_tasks": w, "client_ok": o}
        for i, (b, w, o) in enumerate(zip(borrowed, waiting, ok, strict=True))
    ]  # fmt: skip


def test_exhaustion_needs_full_tokens_waiters_and_no_success() -> None:
    wedged = thread_limiter.exhaustion(_rows([40] * 8, [5] * 8, [3] * 8))
    assert wedged["exhausted_s"] == 3.5 and wedged["exhausted_at_s"] == 0.0
    assert (wedged["tokens_total"], wedged["peak_borrowed"], wedged["peak_waiting"]) == (40, 40, 5)
    busy = thread_limiter.exhaustion(_rows([40] * 8, [5] * 8, list(range(8))))  # progress
    assert busy["exhausted_s"] == 0.0
    no_waiters = thread_limiter.exhaustion(_rows([40] * 8, [0] * 8, [3] * 8))
    assert no_waiters["exhausted_s"] == 0.0
    assert thread_limiter.exhaustion([{"t_s": 0.0}])["samples_read"] == 0


def test_limiter_finding_by_evidence() -> None:
    exact = thread_limiter.exhaustion(_rows([40] * 8, [5] * 8, [3] * 8))
    f = thread_limiter.limiter_finding(
        exact=exact, probed=True, stalled_at_s=None, stacks=None, stacks_error=None, ok_requests=3
    )
    assert (f["finding"], f["evidence"]) == ("wedged", "exact")
    stacks = thread_limiter.anyio_threads(
        [("AnyIO worker thread", "parked")] * 40 + [("MainThread", "idle")]
    )
    assert stacks == {"anyio_threads": 40, "parked": 40, "idle": 0, "working": 0}
    none = thread_limiter.exhaustion([])
    f = thread_limiter.limiter_finding(
        exact=none, probed=False, stalled_at_s=4.0, stacks=stacks, stacks_error=None, ok_requests=0
    )
    assert (f["finding"], f["evidence"], f["anyio_parked"]) == ("wedged", "stacks", 40)
    working = thread_limiter.anyio_threads(
        [("AnyIO worker thread", "parked")] * 39 + [("AnyIO worker thread", "working")]
    )
    f = thread_limiter.limiter_finding(
        exact=none, probed=False, stalled_at_s=4.0, stacks=working, stacks_error=None, ok_requests=0
    )
    assert f["finding"] == "clean"  # overloaded, not stuck
    f = thread_limiter.limiter_finding(
        exact=none, probed=False, stalled_at_s=None, stacks=None, stacks_error=None, ok_requests=9
    )
    assert (f["finding"], f["evidence"]) == ("clean", "stall")
    health = {"asked": 4, "answered": 4, "in_wedge": 0}
    line = "\n".join(thread_limiter.limiter_line("x", f, health))
    assert "not wedged" in line and "4/4 checks answered" in line
    assert "no check was sent while a wedge held" in line


def _gauges(held_from: float, held_to: float, n: int = 16, progress: bool = False) -> list:
    """Samples every 0.5 s; every token borrowed, tasks waiting, from held_from to held_to, and
    client successes only outside that span unless `progress`."""
    rows, ok = [], 0
    for i in range(n):
        t = i * 0.5
        held = held_from <= t <= held_to
        ok += 1 if progress or not held else 0
        rows.append({"t_s": t, "client_ok": ok, "anyio_tokens_total": 40,
                     "anyio_tokens_borrowed": 40 if held else 12,
                     "anyio_waiting_tasks": 9 if held else 0})  # fmt: skip
    return rows


def test_sync_health_counts_only_checks_sent_while_the_wedge_held() -> None:
    samples = _gauges(2.0, 7.5)
    basis, spans = thread_limiter.wedge_spans(samples, stall_s=2.0)
    assert (basis, spans) == ("exact", [(2.0, 7.5)])
    # Answered before the wedge, then two checks sent inside it, never answered.
    pings = [(0.1, 0.01, True), (1.0, 0.02, True), (2.5, 2.0, False), (4.5, 2.0, False)]
    f = thread_limiter.health_finding(pings, samples, 2.0, 2.0)
    assert f["finding"] == "failing"
    assert (f["asked"], f["answered"], f["in_wedge"], f["unanswered_in_wedge"]) == (4, 2, 2, 2)
    assert f["wedge_s"] == 5.5
    line = thread_limiter.limiter_line("v", {"finding": "clean", "evidence": "stall"}, f)[1]
    assert "FAILING: 2/2 checks sent while the wedge held (exact, 5.5 s)" in line
    # A slow check outside any wedge is not the route failing; nor is one answered inside it.
    slow = [(0.5, 2.0, False), (3.0, 0.3, True), (3.5, 0.2, True), (6.0, 2.0, False)]
    f = thread_limiter.health_finding(slow, _gauges(3.0, 5.0), 2.0, 2.0)
    assert (f["finding"], f["in_wedge"], f["unanswered_in_wedge"]) == ("answering", 2, 0)
    # Tokens full but successes coming (waiters on the default pool, steps on their own
    # limiter), or full for less than the limiter rule's 2 s: no wedge to send a check in.
    assert thread_limiter.wedge_spans(_gauges(2.0, 7.5, progress=True), 2.0) == ("exact", [])
    assert thread_limiter.wedge_spans(_gauges(3.0, 4.5), 2.0) == ("exact", [])
    assert thread_limiter.health_finding([], samples, 2.0, 2.0)["finding"] == "inconclusive"


def test_sync_health_wedge_spans_agree_with_the_limiter_rule() -> None:
    # A built-in sync_wait run's rows: wedged from the first row with clients, 2.5 s long.
    rows = [{"t_s": 0.053, "anyio_tokens_total": 40, "anyio_tokens_borrowed": 0}]
    for t, waiting in ((1.053, 45), (1.586, 45), (2.053, 47), (2.553, 49), (3.065, 51),
                       (3.553, 53)):  # fmt: skip
        rows.append({"t_s": t, "client_ok": 0, "client_inflight": 80, "anyio_tokens_total": 40,
                     "anyio_tokens_borrowed": 40, "anyio_waiting_tasks": waiting})  # fmt: skip
    assert thread_limiter.exhaustion(rows)["exhausted_s"] == 2.5
    assert thread_limiter.wedge_spans(rows, stall_s=2.0) == ("exact", [(1.053, 3.553)])
    # Exactly the 2 s the limiter rule needs (3.562 - 1.562 is 1.9999999999999998 in floats).
    edge = [
        {**r, "t_s": t} for r, t in zip(rows[2:], (1.562, 2.062, 2.562, 3.062, 3.562), strict=True)
    ]
    assert thread_limiter.exhaustion(edge)["exhausted_s"] == 2.0
    assert thread_limiter.wedge_spans(edge, stall_s=2.0) == ("exact", [(1.562, 3.562)])


def test_sync_health_black_box_wedge_is_a_stall_of_the_clients() -> None:
    ok = [0, 3, 6, 9, 9, 9, 9, 9, 9, 12, 12]  # no success from t=2.0 to t=4.0, then at 4.5 one
    rows = [{"t_s": i * 0.5, "client_ok": n, "client_inflight": 20} for i, n in enumerate(ok)]
    assert thread_limiter.wedge_spans(rows, stall_s=2.0) == ("clients", [(2.0, 4.0)])
    assert thread_limiter.wedge_spans(rows, stall_s=2.5) == ("clients", [])  # too short a stall
    idle = [{**r, "client_inflight": 0} for r in rows]  # nothing asked: not stuck
    assert thread_limiter.wedge_spans(idle, stall_s=2.0) == ("clients", [])
    f = thread_limiter.health_finding([(2.2, 2.0, False)], rows, 2.0, 2.0)
    assert (f["finding"], f["wedge_basis"], f["in_wedge"]) == ("failing", "clients", 1)


def test_slot_leak_from_the_clients_and_from_the_probe() -> None:
    by_name = {
        "a:limited [rejected, nothing else in flight]": {"requests": 7, "failed": 7},
        "a:limited [rejected, others in flight]": {"requests": 2, "failed": 2},
        "a:limited [read all]": {"requests": 5, "failed": 0},
    }
    rejected = slot_release.rejections(by_name, "nothing else in flight", "others in flight")
    assert rejected == {"idle": 7, "busy": 2, "total": 9}
    decaying = [
        {"t_s": float(t), "client_ok": min(t, 4) * 2.0, "client_users": 4} for t in range(12)
    ]
    goodput = slot_release.goodput_thirds(decaying)
    assert goodput["first_per_s"] == 2.0 and goodput["last_per_s"] == 0.0
    assert goodput["decay"] == 1.0
    f = slot_release.slot_finding(rejected, goodput, {"samples_read": 0}, probed=False)
    assert (f["finding"], f["evidence"]) == ("leaking", "clients")
    none = {"idle": 0, "busy": 0, "total": 0}
    steady = [{"t_s": float(t), "client_ok": t * 2.0, "client_users": 4} for t in range(12)]
    f = slot_release.slot_finding(none, slot_release.goodput_thirds(steady), {}, probed=False)
    assert f["finding"] == "clean" and f["decay"] == 0.0
    rows = [{"http_in_flight": 0, "client_failures_per_s": 3.0}] * 4
    exact = slot_release.idle_rejection_intervals([*rows, {"http_in_flight": 2}])
    assert exact == {"samples_read": 5, "idle_intervals": 4}
    f = slot_release.slot_finding(none, goodput, exact, probed=True)
    assert (f["finding"], f["evidence"]) == ("leaking", "exact")
    assert "4 of 5 samples" in slot_release.slot_line("a", f)


MARKERS = {"before": "one at a time, before any overlap", "overlap": "overlapping",
           "after": "one at a time, after overlap"}  # fmt: skip


def _phases(before: int, overlap: dict[str, int], after: dict[str, int]) -> dict:
    by_name = {
        "v:chat [one at a time, before any overlap]": {"requests": 8, "failed": before},
        "v:chat [overlapping]": {"requests": 8, "failed": sum(overlap.values())},
        "v:chat [one at a time, after overlap]": {"requests": 8, "failed": sum(after.values())},
    }
    errors = {"conflict": "ConflictError('409')", "bad_answer": "BadAnswerError('x')",
              "http_error": "UnexpectedStatusError('unexpected HTTP 500')"}  # fmt: skip
    failures = [
        {"Name": f"v:chat [{MARKERS[phase]}]", "Error": errors[kind], "Occurrences": str(n)}
        for phase, kinds in (("overlap", overlap), ("after", after))
        for kind, n in kinds.items()
    ]
    return shared_agent.phase_counts(by_name, failures, MARKERS)


def test_overlap_findings() -> None:
    raced = shared_agent.overlap_finding(_phases(0, {"http_error": 3, "bad_answer": 5},
                                                 {"bad_answer": 8}))  # fmt: skip
    assert raced["finding"] == "failing" and raced["only_on_overlap"] and raced["broken_for_good"]
    assert raced["overlap_faults"] == 8 and raced["corrupted_answers"] == 13
    assert "BROKEN FOR GOOD" in shared_agent.overlap_line("v", raced)
    assert "13 corrupted answers" in shared_agent.overlap_line("v", raced)
    refused_500 = shared_agent.overlap_finding(_phases(0, {"http_error": 7}, {}))
    refused_500["server"] = {"sdk": "strands-agents 1.22.0", "raised": {"ConcurrencyException": 7}}
    line = shared_agent.overlap_line("v", refused_500)
    assert refused_500["finding"] == "failing" and not refused_500["broken_for_good"]
    assert "clean again: refused, not corrupted" in line
    assert line.endswith("strands-agents 1.22.0 raised ConcurrencyException 7)")
    refused = shared_agent.overlap_finding(_phases(0, {"conflict": 7}, {}))
    assert refused["finding"] == "refusing" and refused["overlap_conflicts"] == 7
    assert shared_agent.overlap_finding(_phases(0, {}, {}))["finding"] == "clean"
    always = shared_agent.overlap_finding(_phases(2, {}, {}))
    assert always["finding"] == "failing" and not always["only_on_overlap"]
    assert shared_agent.overlap_finding({})["finding"] == "inconclusive"


def test_stack_evidence_calls_a_pool_of_parked_anyio_threads_wedged() -> None:
    def thread(name: str, state: str) -> ThreadStack:
        return ThreadStack(1, name, "other", state, ())  # type: ignore[arg-type]

    parked = StackEvidence([thread("AnyIO worker thread", "parked")] * 3)
    assert parked.wedged and parked.anyio_wedged and len(parked.anyio_parked) == 3
    assert not parked.executor_wedged
    one_working = StackEvidence(
        [thread("AnyIO worker thread", "parked"), thread("AnyIO worker thread", "working")]
    )
    assert not one_working.wedged
    assert not StackEvidence([thread("MainThread", "idle")]).wedged
