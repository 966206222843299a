"""One probe per event loop: the instrumented default executor, the counting exception handler,
loop lag, live tasks by name, and the wedge detector, with their metrics in one registry.

`start()` runs in the loop's thread: it makes the instrumented executor the loop's default one,
chains the exception handler, and starts one monitor task that every 100 ms measures how late
its timer fired, re-checks the wedge rules and runs the owner's own per-tick hooks (the
built-in server's gc timer and stall check). `stop()` undoes what `start()` did to the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import psutil
from prometheus_client import CollectorRegistry
from stampede.probe import loop_errors
from stampede.probe.executor import ExecutorSnapshot, InstrumentedExecutor
from stampede.probe.inflight import in_flight_gauge
from stampede.probe.metrics import ProbeGauges, ProbeMetrics
from stampede.probe.pools import PoolWatch, describe_pool
from stampede.probe.wedge import CONFIRM_S, WedgeState

log = logging.getLogger("stampede.probe")

TICK_S = 0.1
TOP_TASK_NAMES = 10
MONITOR_TASK = "stampede.monitor"

# A proof of a wedge from what the owner knows about its work: (snapshot) -> wedged, why.
Proof = Callable[[ExecutorSnapshot], tuple[bool, str]]


class Probe:
    def __init__(
        self,
        *,
        max_workers: int | None = None,
        registry: CollectorRegistry | None = None,
        confirm_s: float = CONFIRM_S,
    ) -> None:
        self.metrics = ProbeMetrics(registry)
        self.registry = self.metrics.registry
        self.executor = InstrumentedExecutor(max_workers)
        self.pools = PoolWatch(skip=self.executor)  # every other pool, anyio's included
        self.wedge = WedgeState()
        self.confirm_s = confirm_s
        self.loop_errors: Counter[str] = Counter()
        self.detector = loop_errors.Detector(self.count_loop_error)
        self.proof: Proof | None = None
        self.ticks: list[Callable[[], None]] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._previous_handler: Any = None
        self._process = psutil.Process()
        self.metrics.add_gauges(self.gauges)
        # HTTP requests in flight (anyio's limiter is read with the other pools, pools.py).
        self.http_in_flight = in_flight_gauge(self.registry)

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Install on `loop` (default: the running one); call it from the loop's thread."""
        self.loop = loop or asyncio.get_running_loop()
        self.loop.set_default_executor(self.executor)
        self._previous_handler = loop_errors.install(self.loop, self.detector)
        self._monitor = self.loop.create_task(self._watch(), name=MONITOR_TASK)

    async def stop(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        if self.loop is not None:
            self.loop.set_exception_handler(self._previous_handler)

    def count_loop_error(self, kind: str) -> None:
        self.loop_errors[kind] += 1
        self.metrics.loop_errors.labels(kind).inc()

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        cpu = time.thread_time()  # this task runs in the loop's thread: its CPU is the loop's
        while True:
            expected = loop.time() + TICK_S
            await asyncio.sleep(TICK_S)
            self.metrics.loop_lag.observe(max(0.0, loop.time() - expected))
            now = time.thread_time()
            self.metrics.loop_cpu.inc(max(0.0, now - cpu))
            cpu = now
            try:
                self.check()
                for tick in self.ticks:
                    tick()
            except Exception:  # a monitor that dies would leave every gauge frozen
                log.exception("probe check failed")

    def check(self) -> None:
        snapshot = self.executor.snapshot(stacks=True)
        if self.proof is not None:
            proven, why = self.proof(snapshot)
            self.wedge.update_wedge(proven, lambda: why, "cycle")
        self.wedge.update_parked(snapshot, self.confirm_s)
        self.pools.tick()
        pool = self.pools.wedged_pool(self.confirm_s)
        if pool is not None:
            self.wedge.update_wedge(True, lambda: describe_pool(pool), f"pool:{pool.pool}")

    def tasks(self) -> list[asyncio.Task[Any]]:
        if self.loop is None:
            return []
        return [task for task in asyncio.all_tasks(self.loop) if not task.done()]

    def process_threads(self) -> int:
        return self._process.num_threads()

    def gauges(self) -> ProbeGauges:
        snapshot = self.executor.snapshot(stacks=True)
        tasks = self.tasks()
        names = Counter(task_name(task) for task in tasks)
        return ProbeGauges(
            executor_max_workers=snapshot.max_workers,
            busy_by_kind=snapshot.busy_by_kind(),
            executor_queued_items=len(snapshot.queued),
            executor_parked_workers=len(snapshot.parked),
            process_threads=self.process_threads(),
            event_loop_tasks=len(tasks),
            tasks_by_name=dict(names.most_common(TOP_TASK_NAMES)),
            wedged=self.wedge.wedged,
            stalled=self.wedge.stalled,
            pools=tuple((r.pool, r.workers, r.parked, r.queued) for r in self.pools.readings),
            anyio=(None if (a := self.pools.anyio) is None else (a.total, a.borrowed, a.waiting)),
        )

    def status(self) -> dict[str, object]:
        """The probe's view as JSON-ready data."""
        snapshot = self.executor.snapshot(stacks=True)
        return {
            "executor": {
                "max_workers": snapshot.max_workers,
                "threads": snapshot.threads,
                "busy": snapshot.busy_by_kind(),
                "parked": len(snapshot.parked),
                "queued": len(snapshot.queued),
                "queued_by_kind": snapshot.queued_by_kind(),
                "completed": snapshot.completed,
            },
            "event_loop_tasks": len(self.tasks()),
            "process_threads": self.process_threads(),
            "wedged": self.wedge.wedged,
            "wedged_since": self.wedge.since_wall,
            "wedge_rule": self.wedge.rule,
            "stalled": self.wedge.stalled,
            "stalled_since": self.wedge.stalled_since,
            "loop_errors": dict(sorted(self.loop_errors.items())),
        }


def task_name(task: asyncio.Task[Any]) -> str:
    name = task.get_name()
    # asyncio's default names ("Task-123") are unique per task; group them by coroutine.
    if name.startswith("Task-"):
        coro = task.get_coro()
        return getattr(coro, "__qualname__", type(coro).__name__)
    return name
