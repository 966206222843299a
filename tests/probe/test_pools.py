"""The probe sees every pool: a ThreadPoolExecutor it never made, and anyio's default limiter."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import anyio
import anyio.to_thread
from stampede.probe.pools import PoolWatch, read_anyio, read_executors


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
