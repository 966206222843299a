"""The batched waiter: one bridge per (primary, loop), and the fix's guarantees kept."""

from __future__ import annotations

import asyncio
import threading

from stampede.server.batched_waiter import BatchedWaiter
from stampede.server.inflight import Inflight, Outcome

DONE = Outcome(200, {"text": "done"})


def test_many_duplicates_share_one_bridge_and_all_get_the_outcome() -> None:
    async def scenario() -> tuple[int, list[Outcome], int]:
        waiter, inflight = BatchedWaiter(), Inflight("a", "k")
        tasks = [asyncio.create_task(waiter.wait(inflight)) for _ in range(2000)]
        await asyncio.sleep(0)
        bridges = waiter.bridges
        inflight.settle(DONE)
        results = await asyncio.wait_for(asyncio.gather(*tasks), 5)
        return bridges, results, waiter.bridges

    bridges, results, left = asyncio.run(scenario())
    assert bridges == 1
    assert results == [DONE] * 2000
    assert left == 0


def test_cancelled_duplicates_leave_the_bridge_and_strand_nobody() -> None:
    async def scenario() -> tuple[list[object], int]:
        waiter, inflight = BatchedWaiter(), Inflight("a", "k")
        tasks = [asyncio.create_task(waiter.wait(inflight)) for _ in range(10)]
        await asyncio.sleep(0)
        for task in tasks[::2]:
            task.cancel()
        await asyncio.sleep(0)
        still_parked = len(next(iter(waiter._bridges.values())).parked)
        inflight.settle(DONE)
        return await asyncio.wait_for(
            asyncio.gather(*tasks, return_exceptions=True), 5
        ), still_parked

    results, still_parked = asyncio.run(scenario())
    assert still_parked == 5
    assert all(isinstance(r, asyncio.CancelledError) for r in results[::2])
    assert results[1::2] == [DONE] * 5


def test_a_timed_out_duplicate_does_not_cancel_the_others() -> None:
    async def scenario() -> list[object]:
        waiter, inflight = BatchedWaiter(), Inflight("a", "k")
        impatient = asyncio.create_task(asyncio.wait_for(waiter.wait(inflight), 0.01))
        patient = [asyncio.create_task(waiter.wait(inflight)) for _ in range(3)]
        await asyncio.sleep(0.05)
        inflight.settle(DONE)
        return await asyncio.gather(impatient, *patient, return_exceptions=True)

    results = asyncio.run(scenario())
    assert isinstance(results[0], TimeoutError)
    assert results[1:] == [DONE] * 3


def test_registering_while_the_release_is_in_flight_returns_at_once() -> None:
    """Settled on another thread, the loop's release callback not yet run: no new bridge."""

    async def scenario() -> tuple[Outcome, int]:
        waiter, inflight = BatchedWaiter(), Inflight("a", "k")
        first = asyncio.create_task(waiter.wait(inflight))
        await asyncio.sleep(0)
        settler = threading.Thread(target=inflight.settle, args=(DONE,))
        settler.start()
        settler.join()  # the loop has not run the scheduled release yet
        late = await asyncio.wait_for(waiter.wait(inflight), 1)
        await asyncio.wait_for(first, 1)
        return late, waiter.bridges

    assert asyncio.run(scenario()) == (DONE, 0)


def test_duplicates_on_several_loops_are_each_released_on_their_own_loop() -> None:
    waiter, inflight = BatchedWaiter(), Inflight("a", "k")
    loops, per_loop = 3, 50
    registered = threading.Barrier(loops + 1)
    results: dict[int, list[Outcome]] = {}
    released_on: dict[int, set[int]] = {}

    async def duplicates(index: int) -> None:
        async def one() -> Outcome:
            outcome = await waiter.wait(inflight)
            released_on.setdefault(index, set()).add(threading.get_ident())
            return outcome

        tasks = [asyncio.create_task(one()) for _ in range(per_loop)]
        await asyncio.sleep(0)
        await asyncio.to_thread(registered.wait, 5)
        results[index] = await asyncio.wait_for(asyncio.gather(*tasks), 5)

    threads = [
        threading.Thread(target=asyncio.run, args=(duplicates(i),), name=f"loop-{i}")
        for i in range(loops)
    ]
    for thread in threads:
        thread.start()
    registered.wait(5)
    bridges = waiter.bridges
    inflight.settle(DONE)  # from the main thread, which runs none of the loops
    for thread in threads:
        thread.join(5)
    assert bridges == loops
    assert results == {i: [DONE] * per_loop for i in range(loops)}
    assert len({ident for idents in released_on.values() for ident in idents}) == loops
    assert waiter.bridges == 0


def test_a_closed_loop_does_not_break_the_release_of_the_others() -> None:
    waiter, inflight = BatchedWaiter(), Inflight("a", "k")

    async def abandon() -> None:
        task = asyncio.create_task(waiter.wait(inflight))
        await asyncio.sleep(0)
        task.cancel()

    asyncio.run(abandon())  # its bridge's loop is closed now

    async def wait_here() -> Outcome:
        task = asyncio.create_task(waiter.wait(inflight))
        await asyncio.sleep(0)
        inflight.settle(DONE)
        return await asyncio.wait_for(task, 1)

    assert asyncio.run(wait_here()) == DONE
    assert waiter.bridges == 0
