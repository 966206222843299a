"""Every thread pool in the process, not just the probed loop's default executor.

A server may run user code on pools the probe never created: a second event loop's default
executor (frameworks that keep a worker loop for user handlers), any ThreadPoolExecutor, and
anyio's worker threads, where every sync FastAPI/Starlette route runs behind one
CapacityLimiter (40 tokens by default).

- ThreadPoolExecutors are found from their live worker threads: each worker's thread runs
  `concurrent.futures.thread._worker(executor_ref, work_queue, ...)`, so its thread arguments
  name its executor and its queue. Read-only: nothing is patched.
- anyio's default limiter is a per-loop RunVar, so it is read on the loop's thread (the probe's
  monitor tick) and cached for the metrics: tokens borrowed of total, tasks waiting for one.

The wedge rule per pool: every worker of the pool parked in a wait primitive (stacks.py) while
work for that pool is queued (or waits for a token), and none of its work completed for the
confirm time.
"""

from __future__ import annotations

import contextlib
import math
import sys
import threading
from dataclasses import dataclass, field

# Bound at import: a test that patches time.monotonic (a fake clock) must not reach us.
from time import monotonic
from typing import Any

from stampede.probe.stacks import parked_threads

try:  # anyio comes with Starlette/FastAPI; a bare asyncio program may not have it
    import anyio.to_thread as anyio_to_thread
except ImportError:  # pragma: no cover - exercised only without anyio installed
    anyio_to_thread = None  # type: ignore[assignment]

ANYIO_THREAD = "AnyIO worker thread"
STACKS_MAX_THREADS = 64
READ_EVERY_S = 0.5  # the monitor ticks every 0.1 s; other pools are read at most this often


@dataclass(frozen=True)
class PoolReading:
    pool: str  # "asyncio" for loops' default executors, "anyio", or the thread name prefix
    workers: int
    max_workers: int
    parked: int
    queued: int  # items queued, or (anyio) tasks waiting for a token
    # What the workers hold now (anyio: the tasks holding tokens; an executor: its workers'
    # work items). A change means work finished and other work took its place: churn, not
    # a wedge, even if every reading finds all of them parked (waiters released in turn).
    holding: frozenset[int] = frozenset()

    @property
    def all_parked(self) -> bool:
        return (
            self.workers > 0
            and self.workers >= self.max_workers
            and self.parked >= self.workers
            and self.queued > 0
        )


@dataclass(frozen=True)
class AnyioLimiter:
    total: float
    borrowed: int
    waiting: int
    borrowers: frozenset[int] = frozenset()  # ids of the tasks holding its tokens


def _executor_of(thread: threading.Thread) -> tuple[Any, Any] | None:
    """(executor, work queue) of a ThreadPoolExecutor worker thread, else None."""
    target = getattr(thread, "_target", None)
    args = getattr(thread, "_args", None)
    if getattr(target, "__name__", "") != "_worker" or not isinstance(args, tuple) or len(args) < 2:
        return None
    ref, queue = args[0], args[1]
    executor = ref() if callable(ref) else None
    return (executor, queue) if executor is not None else None


def _pool_name(thread_name: str) -> str:
    prefix = thread_name.rsplit("_", 1)[0] if "_" in thread_name else thread_name
    return "asyncio" if prefix in ("asyncio", "uvloop") else prefix


def read_executors(skip: Any = None) -> list[PoolReading]:
    """Every ThreadPoolExecutor with live workers (but `skip`, the probe's own executor)."""
    by_executor: dict[int, tuple[Any, Any, list[threading.Thread]]] = {}
    for thread in threading.enumerate():
        found = _executor_of(thread)
        if found is None or found[0] is skip:
            continue
        executor, queue = found
        by_executor.setdefault(id(executor), (executor, queue, []))[2].append(thread)
    readings = []
    for executor, queue, threads in by_executor.values():
        queued = int(queue.qsize())
        # Reading stacks costs per thread: only where the wedge rule could hold (work queued)
        # or the pool is small; a huge idle pool reads as 0 parked.
        look = queued > 0 or len(threads) <= STACKS_MAX_THREADS
        idents = (t.ident for t in threads if t.ident is not None) if look else ()
        parked = parked_threads(idents)
        readings.append(
            PoolReading(
                _pool_name(threads[0].name),
                len(threads),
                int(getattr(executor, "_max_workers", len(threads))),
                len(parked),
                queued,
                _work_items(threads) if queued > 0 else frozenset(),
            )
        )
    return readings


def _work_items(threads: list[threading.Thread]) -> frozenset[int]:
    """Ids of the work items the executor's workers run now (read from each worker's
    `_worker` frame: read-only; an unreadable frame counts as none)."""
    frames = sys._current_frames()
    items = set()
    for thread in threads:
        frame = frames.get(thread.ident) if thread.ident is not None else None
        while frame is not None and frame.f_code.co_name != "_worker":
            frame = frame.f_back
        if frame is not None:
            with contextlib.suppress(Exception):
                item = frame.f_locals.get("work_item")
                if item is not None:
                    items.add(id(item))
    return frozenset(items)


def read_anyio() -> AnyioLimiter | None:
    """anyio's default thread limiter of the running loop; call on the loop's thread."""
    if anyio_to_thread is None:
        return None
    try:
        stats = anyio_to_thread.current_default_thread_limiter().statistics()
    except Exception:  # no anyio context on this loop: nothing to read
        return None
    total = float(stats.total_tokens)
    borrowers = frozenset(id(b) for b in getattr(stats, "borrowers", ()))
    return AnyioLimiter(total, stats.borrowed_tokens, stats.tasks_waiting, borrowers)


def anyio_pool(limiter: AnyioLimiter) -> PoolReading:
    """anyio's workers as a pool: its threads, parked ones, and tasks waiting for a token."""
    threads = [t for t in threading.enumerate() if t.name == ANYIO_THREAD]
    parked = parked_threads(t.ident for t in threads if t.ident is not None)
    # Only the token holders do work: a pool is full when every token is borrowed.
    cap = int(limiter.total) if math.isfinite(limiter.total) else limiter.borrowed + 1
    return PoolReading(
        "anyio", limiter.borrowed, cap, len(parked), limiter.waiting, limiter.borrowers
    )


@dataclass
class PoolWatch:
    """The other pools, read each tick; a pool whose rule held for `confirm_s` is wedged."""

    skip: Any = None
    readings: list[PoolReading] = field(default_factory=list)
    anyio: AnyioLimiter | None = None
    _held: dict[str, tuple[float, frozenset[int]]] = field(default_factory=dict)
    _read_at: float = float("-inf")

    def tick(self) -> None:
        """On the loop's thread: read every pool (and anyio's limiter), at most every
        READ_EVERY_S (a process with thousands of threads must not pay it each tick)."""
        now = monotonic()
        if now - self._read_at < READ_EVERY_S:
            return
        self._read_at = now
        self.anyio = read_anyio()
        readings = read_executors(self.skip)
        if self.anyio is not None:
            readings.append(anyio_pool(self.anyio))
        self.readings = readings

    def wedged_pool(self, confirm_s: float) -> PoolReading | None:
        """The first pool whose rule has held for confirm_s with its workers holding the same
        work throughout (a pool whose parked waiters are released in turn is no wedge)."""
        now = monotonic()
        held = {}
        found = None
        for r in self.readings:
            if not r.all_parked:
                continue
            since, holding = self._held.get(r.pool, (now, r.holding))
            if holding != r.holding:  # work finished, other work took its place
                since = now
            held[r.pool] = (since, r.holding)
            if found is None and now - since >= confirm_s:
                found = r
        self._held = held
        return found


def describe_pool(r: PoolReading) -> str:
    waiting = "task(s) wait for a token" if r.pool == "anyio" else "item(s) are queued"
    return (
        f"all {r.workers} worker(s) of the {r.pool} pool are parked in a wait primitive and "
        f"{r.queued} {waiting} behind them"
    )
