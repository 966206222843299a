"""Waiter strategies in-process: cancellation, late registration, parked workers."""

from __future__ import annotations

import asyncio

import pytest
from stampede.probe.executor import InstrumentedExecutor
from stampede.server.inflight import Inflight, Outcome
from stampede.server.waiters import FutureWaiter, ToThreadWaiter, make_waiter

DONE = Outcome(200, {"text": "done"})


async def _settle_later(inflight: Inflight, delay: float) -> None:
    await asyncio.sleep(delay)
    inflight.settle(DONE)


@pytest.mark.parametrize("name", ["to_thread", "future", "batched"])
def test_cancelling_one_waiter_does_not_strand_the_others(name: str) -> None:
    async def scenario() -> list[object]:
        asyncio.get_running_loop().set_default_executor(InstrumentedExecutor(8))
        waiter, inflight = make_waiter(name), Inflight("a", "k")
        tasks = [asyncio.create_task(waiter.wait(inflight)) for _ in range(5)]
        await asyncio.sleep(0.05)
        tasks[0].cancel()
        await _settle_later(inflight, 0.05)
        return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)

    results = asyncio.run(scenario())
    assert isinstance(results[0], asyncio.CancelledError)
    assert results[1:] == [DONE] * 4


@pytest.mark.parametrize("name", ["to_thread", "future", "batched"])
def test_registering_after_settle_returns_at_once(name: str) -> None:
    async def scenario() -> Outcome:
        waiter, inflight = make_waiter(name), Inflight("a", "k")
        inflight.settle(DONE)
        return await asyncio.wait_for(waiter.wait(inflight), 1.0)

    assert asyncio.run(scenario()) == DONE


def test_settle_is_once_only() -> None:
    inflight = Inflight("a", "k")
    assert inflight.settle(DONE) is True
    assert inflight.settle(Outcome(503, {})) is False
    assert inflight.future.result() == DONE


def test_to_thread_parks_a_worker_per_waiter_and_counts_orphans() -> None:
    async def scenario() -> dict[str, int]:
        executor = InstrumentedExecutor(4)
        asyncio.get_running_loop().set_default_executor(executor)
        waiter, inflight = ToThreadWaiter(), Inflight("a", "k")
        tasks = [asyncio.create_task(waiter.wait(inflight)) for _ in range(3)]
        await asyncio.sleep(0.1)
        parked = executor.snapshot().busy_by_kind()["waiter"]
        tasks[0].cancel()
        await asyncio.sleep(0.05)
        orphaned = waiter.orphaned_workers
        still_parked = executor.snapshot().busy_by_kind()["waiter"]
        inflight.settle(DONE)
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0.05)
        return {
            "parked": parked,
            "orphaned": orphaned,
            "still_parked": still_parked,
            "orphaned_after": waiter.orphaned_workers,
            "parked_after": executor.snapshot().busy_by_kind()["waiter"],
        }

    assert asyncio.run(scenario()) == {
        "parked": 3,
        "orphaned": 1,
        "still_parked": 3,
        "orphaned_after": 0,
        "parked_after": 0,
    }


def test_future_waiter_parks_nothing() -> None:
    async def scenario() -> int:
        executor = InstrumentedExecutor(2)
        asyncio.get_running_loop().set_default_executor(executor)
        waiter, inflight = FutureWaiter(), Inflight("a", "k")
        tasks = [asyncio.create_task(waiter.wait(inflight)) for _ in range(500)]
        await asyncio.sleep(0.05)
        busy = len(executor.snapshot().running) + len(executor.snapshot().queued)
        inflight.settle(DONE)
        assert await asyncio.gather(*tasks) == [DONE] * 500
        return busy

    assert asyncio.run(scenario()) == 0


def test_unknown_waiter_is_named() -> None:
    with pytest.raises(ValueError, match="'sleepy'"):
        make_waiter("sleepy")
