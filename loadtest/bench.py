"""`stampede bench waiters`: what one waiting duplicate costs, per waiter strategy.

In-process and exact: a primary's model call holds one worker behind a gate while N duplicates
register through the real invocation service and waiter; with everyone waiting we read the
process's threads and RSS, then open the gate and time, for every duplicate, the gap from the
primary settling to that duplicate resuming. One model cycle, so the to_thread waiter queues
the duplicates it cannot park instead of wedging. However the measurement ends (an error, a
signal), it opens the gate and settles the primary first, so no worker thread stays parked and
the process exits at once instead of waiting out the gate's deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import psutil
from stampede.loadtest.errors import UsageError
from stampede.loadtest.interrupts import run_async
from stampede.loadtest.startup import add_wait_flag, exclusive_run, wait_from
from stampede.loadtest.stats import percentile
from stampede.probe.executor import InstrumentedExecutor
from stampede.server.invocations import InvocationService
from stampede.server.model import StubBedrockModel
from stampede.server.settings import default_pool_size, usable_cpu_count
from stampede.server.telemetry import Telemetry
from stampede.server.waiters import WAITERS, make_waiter

DEFAULT_SIZES = (10, 100, 1000, 10_000)
SETTLE_DEADLINE_S = 120.0
MAX_WORKERS = 1024  # threads; beyond this the bench measures the OS, not the waiter
MAX_SIZE = 100_000


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
    service = InvocationService(
        model=model, waiter=make_waiter(waiter), telemetry=Telemetry(waiter)
    )

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
    gaps = sorted((t - settled_at[0]) * 1000 for t in resumed)
    return {
        "waiter": waiter,
        "duplicates": n,
        "executor_workers": workers,
        "threads_added": threads - base_threads,
        "rss_added_bytes": rss - base_rss,
        "rss_per_waiter_bytes": (rss - base_rss) / n,
        "release_p50_ms": percentile(gaps, 50),
        "release_p99_ms": percentile(gaps, 99),
        "release_max_ms": gaps[-1],
    }


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


def run_bench(waiters: list[str], sizes: list[int], workers: int | None) -> list[dict[str, float]]:
    return [measure_waiters(w, n, workers=workers) for w in waiters for n in sizes]


def render(rows: list[dict[str, float]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Waiting duplicates: cost and release latency")
    for header in ("waiter", "N", "threads added", "RSS/waiter", "p50 ms", "p99 ms", "max ms"):
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(
            str(row["waiter"]),
            f"{row['duplicates']:,}",
            str(row["threads_added"]),
            f"{row['rss_per_waiter_bytes'] / 1024:.2f} KiB",
            f"{row['release_p50_ms']:.2f}",
            f"{row['release_p99_ms']:.2f}",
            f"{row['release_max_ms']:.2f}",
        )
    Console().print(table)


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"--sizes {text!r}: expected comma-separated integers") from None
    if not values or any(v < 1 or v > MAX_SIZE for v in values):
        raise UsageError(f"--sizes {text!r}: each size must be between 1 and {MAX_SIZE}")
    return values


def _workers(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"--workers {text!r}: expected an integer") from None
    if not 2 <= value <= MAX_WORKERS:
        raise UsageError(f"--workers {text!r}: must be between 2 and {MAX_WORKERS}")
    return value


def cmd_bench(args: argparse.Namespace) -> int:
    waiters = [w.strip() for w in args.waiters.split(",") if w.strip()]
    for waiter in waiters:
        if waiter not in WAITERS:
            raise UsageError(f"--waiters: unknown waiter {waiter!r} (choose from to_thread,future)")
    if not waiters:
        raise UsageError(f"--waiters {args.waiters!r}: name at least one waiter")
    sizes, workers, wait_s = _int_list(args.sizes), _workers(args.workers), wait_from(args)
    with exclusive_run("bench", wait_s):  # a second run on the same cores skews the figures
        rows = run_bench(waiters, sizes, workers)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        render(rows)
    return 0


def register(sub: Any) -> None:
    bench = sub.add_parser("bench", help="micro-benchmarks (figures, not pass/fail)")
    which = bench.add_subparsers(dest="bench", required=True, metavar="BENCH")
    waiters = which.add_parser("waiters", help="cost and release latency of waiting duplicates")
    waiters.add_argument("--waiters", default="to_thread,future")
    waiters.add_argument("--sizes", default=",".join(str(n) for n in DEFAULT_SIZES))
    waiters.add_argument("--workers", default=None, help=f"executor workers (2..{MAX_WORKERS})")
    waiters.add_argument("--json", action="store_true", help="print JSON rows")
    add_wait_flag(waiters)
    waiters.set_defaults(func=cmd_bench)
