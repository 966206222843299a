"""What one waiting duplicate costs, per waiter strategy, against the asyncio floor.

In-process and exact: a primary's model call holds one worker behind a gate while N duplicates
register through the real invocation service and waiter; with everyone waiting we read the
process's threads and RSS, then open the gate and time, for every duplicate, the gap from the
primary settling to that duplicate resuming. One model cycle, so the to_thread waiter queues
the duplicates it cannot park instead of wedging. However the measurement ends (an error, a
signal), it opens the gate and settles the primary first, so no worker thread stays parked and
the process exits at once instead of waiting out the gate's deadline.

The floor is what no waiter can beat on one event loop: N tasks awaiting one plain asyncio
future, timed from `set_result` to each task resuming (one wake-up per task). It is measured in
the same run, interleaved with the waiters, so each waiter's p99 is quoted as a multiple of it.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psutil
from stampede.loadtest.process.interrupts import run_async
from stampede.loadtest.verdict.stats import percentile
from stampede.probe.executor import InstrumentedExecutor
from stampede.server.invocations import InvocationService
from stampede.server.model import StubBedrockModel
from stampede.server.settings import default_pool_size, usable_cpu_count
from stampede.server.telemetry import Telemetry
from stampede.server.waiters import WAITERS, make_waiter

DEFAULT_SIZES = (10, 100, 1000, 10_000)
SETTLE_DEADLINE_S = 120.0


@dataclass
class GatedModel(StubBedrockModel):
    """Answers only when the bench opens the gate, so every duplicate is in place first."""

    gate: threading.Event | None = None

    def converse(self, messages: list[dict[str, Any]], tools: list[str] | None = None) -> dict:
        assert self.gate is not None
        if not self.gate.wait(SETTLE_DEADLINE_S):
            raise TimeoutError("bench gate never opened")
        return super().converse(messages, tools)


async def _until(predicate: Any, deadline: float, what: str) -> None:
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"bench: timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def _measure(waiter: str, n: int, workers: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    executor = InstrumentedExecutor(workers)
    loop.set_default_executor(executor)
    gate = threading.Event()
    model = GatedModel(latency_ms=0, tool_turns=0, gate=gate)
    service = InvocationService(model=model, waiter=make_waiter(waiter), telemetry=Telemetry())

    try:
        return await _measure_gated(waiter, n, workers, executor, gate, service)
    finally:
        # Release every thread the measurement may hold (the gated model call, parked
        # waiters), so neither an interrupt nor an error leaves the executor to be joined.
        gate.set()
        service.abort_all()
        executor.shutdown(wait=False, cancel_futures=True)


async def _measure_gated(
    waiter: str,
    n: int,
    workers: int,
    executor: InstrumentedExecutor,
    gate: threading.Event,
    service: InvocationService,
) -> dict[str, float]:
    deadline = time.monotonic() + SETTLE_DEADLINE_S
    process = psutil.Process()
    primary = asyncio.create_task(service.invoke("bench", "key", "go"))
    await _until(lambda: executor.snapshot().busy_by_kind()["model"] == 1, deadline, "primary")
    gc.collect()
    base_threads, base_rss = process.num_threads(), process.memory_info().rss

    settled_at: list[float] = []
    service.inflight["bench"].future.add_done_callback(
        lambda _: settled_at.append(time.perf_counter())
    )
    resumed: list[float] = []

    async def duplicate() -> None:
        await service.invoke("bench", "key", "go")
        resumed.append(time.perf_counter())

    dups = [asyncio.create_task(duplicate()) for _ in range(n)]
    parked = min(n, workers - 1) if waiter == "to_thread" else 0
    await _until(lambda: service.waiting == n, deadline, "duplicates to register")
    await _until(
        lambda: executor.snapshot().busy_by_kind()["waiter"] == parked, deadline, "parking"
    )
    threads, rss = process.num_threads(), process.memory_info().rss

    gate.set()
    await asyncio.wait_for(asyncio.gather(primary, *dups), SETTLE_DEADLINE_S)
    return {
        "waiter": waiter,
        "duplicates": n,
        "executor_workers": workers,
        "threads_added": threads - base_threads,
        "rss_added_bytes": rss - base_rss,
        "rss_per_waiter_bytes": (rss - base_rss) / n,
        **_release([(t - settled_at[0]) * 1000 for t in resumed]),
    }


def _release(gaps_ms: list[float]) -> dict[str, float]:
    return {
        "release_p50_ms": percentile(gaps_ms, 50),
        "release_p99_ms": percentile(gaps_ms, 99),
        "release_max_ms": max(gaps_ms),
    }


async def _floor(n: int) -> list[float]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    resumed: list[float] = []

    async def waiting() -> None:
        await future
        resumed.append(time.perf_counter())

    tasks = [asyncio.create_task(waiting()) for _ in range(n)]
    await asyncio.sleep(0)  # one loop pass: every task is parked on the future
    gc.collect()
    settled = time.perf_counter()
    future.set_result(None)
    await asyncio.wait_for(asyncio.gather(*tasks), SETTLE_DEADLINE_S)
    return [(t - settled) * 1000 for t in resumed]


def measure_waiters(waiter: str, n: int, *, workers: int | None = None) -> dict[str, float]:
    """Measure one waiter with n duplicates on a fresh event loop and executor."""
    if waiter not in WAITERS:
        raise ValueError(f"unknown waiter {waiter!r} (choose from {', '.join(WAITERS)})")
    if n < 1:
        raise ValueError(f"duplicates must be >= 1, got {n}")
    size = workers or default_pool_size(usable_cpu_count())
    if size < 2:
        raise ValueError("the bench needs at least 2 executor workers (one for the primary)")
    return run_async(_measure(waiter, n, size))


def measure_floor(n: int) -> dict[str, float]:
    """Release latency of n tasks awaiting one plain asyncio future, on a fresh event loop."""
    if n < 1:
        raise ValueError(f"duplicates must be >= 1, got {n}")
    return {"duplicates": n, **_release(run_async(_floor(n)))}


def run_bench(
    waiters: Sequence[str], sizes: Sequence[int], workers: int | None = None, repeat: int = 3
) -> dict[str, list[dict[str, Any]]]:
    """Floor and waiters, interleaved per size and repeat; each figure the median of `repeat`.

    Returns {"floor": [per size], "waiters": [per waiter and size]}; a waiter row carries the
    floor's p99 for its size and its own p99 as a multiple of it (`p99_vs_floor`).
    """
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    floors, rows = [], []
    for n in sizes:
        runs: dict[str, list[dict[str, Any]]] = {"floor": [], **{w: [] for w in waiters}}
        for _ in range(repeat):
            # Interleaved, so a busy moment on a shared machine hits floor and waiters alike.
            runs["floor"].append(measure_floor(n))
            for waiter in waiters:
                runs[waiter].append(measure_waiters(waiter, n, workers=workers))
        floor = _median_row(runs.pop("floor"))
        floors.append(floor)
        for waiter_runs in runs.values():
            row = _median_row(waiter_runs)
            row["floor_p99_ms"] = floor["release_p99_ms"]
            row["p99_vs_floor"] = row["release_p99_ms"] / floor["release_p99_ms"]
            rows.append(row)
    return {"floor": floors, "waiters": rows}


def _median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each numeric field's median over the repeats: the nearest-rank p50, an observed value."""
    row = dict(runs[0])
    for key, value in row.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            row[key] = percentile([run[key] for run in runs], 50)
    row["repeats"] = len(runs)
    return row
