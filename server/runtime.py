"""Everything one server process owns, wired together: executor, waiter, service, monitors.

`Runtime.start()` runs inside the server's event loop (from the app's lifespan): it installs
the instrumented executor as the loop's default one, the classifying exception handler, and
one monitor task that measures loop lag and re-checks the wedge every 100 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections import Counter
from typing import Any

from stampede.server import loop_errors
from stampede.server.executor import InstrumentedExecutor
from stampede.server.hazards.build import build_hazards
from stampede.server.invocations import InvocationService
from stampede.server.model import StubBedrockModel
from stampede.server.sdk import strands_module  # strands itself is imported only when asked
from stampede.server.settings import ServerSettings
from stampede.server.telemetry import Telemetry
from stampede.server.waiters import make_waiter
from stampede.server.wedge import WedgeState, is_wedged

log = logging.getLogger("stampede.server")

TICK_S = 0.1
TOP_TASK_NAMES = 10


class Runtime:
    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.agent_info = agent_description(settings)
        self.telemetry = Telemetry(settings.waiter, agent=self.agent_info)
        self.executor = InstrumentedExecutor(settings.pool_size)
        self.waiter = make_waiter(settings.waiter)
        self.model = StubBedrockModel(
            latency_ms=settings.model_latency_ms,
            jitter_ms=settings.model_jitter_ms,
            error_rate=settings.model_error_rate,
            seed=settings.seed,
            tool_turns=settings.model_cycles - 1,
        )
        self.service = service_class(settings)(
            model=self.model,
            waiter=self.waiter,
            telemetry=self.telemetry,
            duplicate_timeout_s=settings.duplicate_timeout_s,
        )
        self.wedge = WedgeState()
        self.hazards = build_hazards(settings)
        self.loop_errors: Counter[str] = Counter()
        self.detector = loop_errors.Detector(self.count_loop_error)
        for hazard in self.hazards:  # a hazard may trace reports back to its own requests
            observer = getattr(hazard, "observe_loop_error", None)
            if observer is not None:
                self.detector.observe(observer)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._monitor: asyncio.Task[None] | None = None
        self.started_at = time.time()
        self.gc_passes = 0
        self.gc_last_at: float | None = None
        self.telemetry.add_gauges(self.gauges)

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.loop.set_default_executor(self.executor)
        loop_errors.install(self.loop, self.detector)
        if self.settings.gc_mode == "timer":
            gc.disable()
        self._monitor = asyncio.create_task(self._watch(), name="stampede.monitor")
        log.info(
            "waiter=%s executor_workers=%d (cpus=%d) model=%.0fms x%d",
            self.settings.waiter,
            self.settings.pool_size,
            self.settings.effective_cpus,
            self.settings.model_latency_ms,
            self.settings.model_cycles,
        )

    async def stop(self) -> None:
        self.abort()
        if self.settings.gc_mode == "timer":
            gc.enable()
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor

    def abort(self) -> None:
        """Release every waiter and drop queued work: a wedged server must still exit."""
        aborted = self.service.abort_all()
        self.executor.cancel_queued()
        if aborted:
            log.warning("shutdown aborted %d in-flight invocation(s)", aborted)

    def count_loop_error(self, kind: str) -> None:
        self.loop_errors[kind] += 1
        self.telemetry.loop_errors.labels(kind).inc()

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        last_gc = loop.time()
        while True:
            expected = loop.time() + TICK_S
            await asyncio.sleep(TICK_S)
            self.telemetry.loop_lag.observe(max(0.0, loop.time() - expected))
            self.check()
            # Collect on a timer so "destroyed but pending" shows during a run, not at exit.
            if loop.time() - last_gc >= self.settings.gc_interval_s:
                gc.collect()
                last_gc = loop.time()
                self.gc_passes += 1
                self.gc_last_at = time.time()

    def check(self) -> None:
        snapshot = self.executor.snapshot()
        settled = self._settled_lookup()
        self.wedge.update_wedge(is_wedged(snapshot, settled), lambda: self._describe(snapshot))
        self.wedge.update_stall(
            self.service.active_requests, self.service.last_completion, self.settings.stall_seconds
        )

    def _settled_lookup(self) -> Any:
        live = {inflight.id: inflight for inflight in self.service.inflight.values()}

        def settled(owner: str) -> bool:
            inflight = live.get(owner)
            return inflight is None or inflight.settled

        return settled

    def _describe(self, snapshot: Any) -> str:
        busy = snapshot.busy_by_kind()
        return (
            f"all {snapshot.max_workers} executor workers are parked by idempotency waiters "
            f"({busy['waiter']} waiter) and {snapshot.queued_by_kind()['model']} primary "
            f"model call(s) are queued behind them; no worker can ever free"
        )

    def tasks(self) -> list[asyncio.Task[Any]]:
        if self.loop is None:
            return []
        return [task for task in asyncio.all_tasks(self.loop) if not task.done()]

    def gauges(self) -> dict[str, object]:
        snapshot = self.executor.snapshot()
        tasks = self.tasks()
        names = Counter(_task_name(task) for task in tasks)
        return {
            "executor_max_workers": snapshot.max_workers,
            "busy_by_kind": snapshot.busy_by_kind(),
            "executor_queued_items": len(snapshot.queued),
            "process_threads": self.telemetry.process_threads(),
            "event_loop_tasks": len(tasks),
            "tasks_by_name": dict(names.most_common(TOP_TASK_NAMES)),
            "idempotency_waiters": self.service.waiting,
            "inflight_primaries": len(self.service.inflight),
            "orphaned_waiter_workers": self.waiter.orphaned_workers,
            "wedged": int(self.wedge.wedged),
            "stalled": int(self.wedge.stalled),
        }

    def status(self) -> dict[str, object]:
        snapshot = self.executor.snapshot()
        return {
            "waiter": self.settings.waiter,
            "agent": self.agent_info,
            "cpus": self.settings.effective_cpus,
            "executor": {
                "max_workers": snapshot.max_workers,
                "threads": snapshot.threads,
                "busy": snapshot.busy_by_kind(),
                "queued": len(snapshot.queued),
                "queued_by_kind": snapshot.queued_by_kind(),
            },
            "waiters": self.service.waiting,
            "orphaned_waiter_workers": self.waiter.orphaned_workers,
            "inflight_primaries": len(self.service.inflight),
            "active_requests": self.service.active_requests,
            "event_loop_tasks": len(self.tasks()),
            "process_threads": self.telemetry.process_threads(),
            "wedged": self.wedge.wedged,
            "wedged_since": self.wedge.since_wall,
            "stalled": self.wedge.stalled,
            "stalled_since": self.wedge.stalled_since,
            "model": {
                "latency_ms": self.settings.model_latency_ms,
                "jitter_ms": self.settings.model_jitter_ms,
                "cycles": self.settings.model_cycles,
                "error_rate": self.settings.model_error_rate,
            },
            "duplicate_timeout_s": self.settings.duplicate_timeout_s,
            "loop_errors": dict(sorted(self.loop_errors.items())),
            "hazards": {hazard.name: hazard.status() for hazard in self.hazards},
            "gc": {
                "interval_s": self.settings.gc_interval_s,
                "mode": self.settings.gc_mode,
                "passes": self.gc_passes,
                "last_at": self.gc_last_at,
            },
            "uptime_s": round(time.time() - self.started_at, 3),
        }


def agent_description(settings: ServerSettings) -> str:
    """What answers invocations: "builtin", or e.g. "strands-agents 1.62.0 with pre-fix waiter"."""
    if settings.agent == "strands":
        return str(strands_module().describe(settings.waiter))
    return "builtin"


def service_class(settings: ServerSettings) -> Any:
    if settings.agent == "strands":
        return strands_module().StrandsInvocationService
    return InvocationService


def _task_name(task: asyncio.Task[Any]) -> str:
    name = task.get_name()
    # asyncio's default names ("Task-123") are unique per task; group them by coroutine.
    if name.startswith("Task-"):
        coro = task.get_coro()
        return getattr(coro, "__qualname__", type(coro).__name__)
    return name
