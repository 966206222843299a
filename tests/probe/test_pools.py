"""The probe sees every pool: a ThreadPoolExecutor it never made, and anyio's default limiter."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import anyio
import anyio.to_thread
from stampede.probe.pools import READ_EVERY_S, PoolWatch, read_anyio, read_executors


def test_another_executor_all_parked_with_work_queued_is_a_wedged_pool() -> None:
    release = threading.Event()
    pool = ThreadPoolExecutor(2, thread_name_prefix="worker-loop")
    try:
        for _ in range(3):  # two park, one queues behind them
            pool.submit(release.wait, 30)
        deadline = time.monotonic() + 10
        watch = PoolWatch()
        reading = None
        while time.monotonic() < deadline:
            watch.tick()
            reading = next((r for r in watch.readings if r.pool == "worker-loop"), None)
            if reading is not None and reading.all_parked:
                break
            time.sleep(0.05)
        assert reading is not None and reading.all_parked, reading
        assert (reading.workers, reading.max_workers, reading.parked, reading.queued) == (
            2,
            2,
            2,
            1,
        )
        assert len(reading.holding) == 2  # the two parked workers' own work items
        assert watch.wedged_pool(0.0) is not None
    finally:
        release.set()
        pool.shutdown(wait=True)
    assert all(r.pool != "worker-loop" for r in read_executors())


def test_anyio_limiter_tokens_and_waiting_tasks_are_read_on_the_loop() -> None:
    release = threading.Event()

    async def main() -> tuple:
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = 2
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(anyio.to_thread.run_sync, release.wait, 30)
            reading = None
            for _ in range(200):
                await asyncio.sleep(0.02)
                reading = read_anyio()
                if reading is not None and reading.borrowed == 2 and reading.waiting == 1:
                    break
            release.set()
        return reading

    reading = anyio.run(main)
    assert reading is not None
    assert (reading.total, reading.borrowed, reading.waiting) == (2.0, 2, 1)


def _wait_for(event: threading.Event) -> None:
    event.wait(30)  # user code parked in a wait (called straight from anyio's loop reads idle)


def _anyio_watch(release_in_turn: bool) -> tuple[int, bool]:
    """anyio's limiter at 2 tokens, 8 sync waiters: two hold the tokens parked, the rest wait.
    Read the pools three times, READ_EVERY_S apart; between readings release the holders (so
    the next two take the tokens and park in turn), or nobody. (readings with every worker
    parked and tasks waiting, whether the watch called the pool wedged)."""
    events = [threading.Event() for _ in range(8)]

    async def main() -> tuple[int, bool]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 2
        watch, held, wedged = PoolWatch(), 0, False
        async with anyio.create_task_group() as tg:
            for event in events:
                tg.start_soon(anyio.to_thread.run_sync, _wait_for, event)
            for turn in range(3):
                reading = None
                for _ in range(200):  # until both holders are parked (a busy machine is slow)
                    await asyncio.sleep(0.05)
                    watch.tick()
                    reading = next((r for r in watch.readings if r.pool == "anyio"), None)
                    if reading is not None and reading.all_parked and reading.parked == 2:
                        break
                held += bool(reading is not None and reading.all_parked)
                wedged = wedged or watch.wedged_pool(0.2) is not None
                await asyncio.sleep(READ_EVERY_S)  # the next tick reads anew, 0.2 s later
                if release_in_turn:
                    for event in events[2 * turn : 2 * turn + 2]:
                        event.set()
            for event in events:
                event.set()
        return held, wedged

    return anyio.run(main)


def test_anyio_workers_parked_on_the_same_work_are_a_wedged_pool() -> None:
    held, wedged = _anyio_watch(release_in_turn=False)
    assert held == 3 and wedged


def test_anyio_workers_released_in_turn_are_churn_not_a_wedge() -> None:
    # Every reading finds both workers parked with tasks waiting, but holding other tasks.
    held, wedged = _anyio_watch(release_in_turn=True)
    assert held == 3 and not wedged
