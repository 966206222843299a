"""What the invocation path's fast forms must keep: the same timestamps, the same executor
counts, the same shared outcome, whenever a waiter asks for it."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from stampede.probe.executor import InstrumentedExecutor, tagged
from stampede.server.inflight import Inflight, Outcome
from stampede.server.invocations import iso

DONE = Outcome(200, {"text": "done", "role": "primary"})


def test_iso_writes_what_datetime_writes() -> None:
    start = 1_782_000_000.0
    # Steps inside one second (the cached prefix) and across seconds, minutes and a day;
    # values just below a whole second, where rounding to the microsecond carries over.
    stamps = [start + i * 0.1371 for i in range(50)] + [
        start + 59.9994,
        start + 59.99949999,
        start + 59.9999996,
        start + 86_399.9999999,
        start + 0.0005,
        time.time(),
    ]
    for ts in stamps:
        assert iso(ts) == datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds"), ts


def test_a_cancelled_queued_item_leaves_the_snapshot_and_never_runs() -> None:
    executor = InstrumentedExecutor(1)
    gate, ran = threading.Event(), []
    try:
        with tagged("model", "inv-1"):
            busy = executor.submit(gate.wait, 5)
        with tagged("waiter", "inv-2"):
            doomed = executor.submit(ran.append, "doomed")
        kept = executor.submit(ran.append, "kept")
        deadline = time.monotonic() + 5
        while not executor.snapshot().running and time.monotonic() < deadline:
            time.sleep(0.005)
        before = executor.snapshot()
        assert [(i.kind, i.owner) for i in before.running] == [("model", "inv-1")]
        assert [(i.kind, i.owner) for i in before.queued] == [("waiter", "inv-2"), ("other", None)]
        assert doomed.cancel()
        assert [i.kind for i in executor.snapshot().queued] == ["other"]
        gate.set()
        busy.result(5), kept.result(5)
        after = executor.snapshot()
        assert after.queued == () and after.running == () and ran == ["kept"]
    finally:
        gate.set()
        executor.shutdown(wait=True)


def test_future_and_event_made_after_the_outcome_are_already_resolved() -> None:
    inflight = Inflight("a", "k")
    assert inflight.outcome is None and not inflight.settled
    early = inflight.future  # made before: resolved by settle
    assert inflight.settle(DONE) is True
    assert early.result(0) is DONE
    assert inflight.future.result(0) is DONE  # the same future, not a new one
    assert inflight.done.is_set()  # made after: set at once
    assert inflight.settle(Outcome(503, {})) is False and inflight.outcome is DONE


def test_settling_from_another_thread_while_waiters_ask_for_the_future() -> None:
    for _ in range(200):
        inflight = Inflight("a", "k")
        settler = threading.Thread(target=inflight.settle, args=(DONE,))
        settler.start()
        future, done = inflight.future, inflight.done
        settler.join()
        assert future.result(1) is DONE and done.wait(1)


def test_duplicates_share_one_answer_with_role_duplicate() -> None:
    first, second = DONE.as_duplicate, DONE.as_duplicate
    assert first is second and first.body == {"text": "done", "role": "duplicate"}
    assert DONE.body["role"] == "primary"  # the primary's own answer is untouched
    failed = Outcome(429, {"error": "model_throttled"})
    assert failed.as_duplicate is failed
