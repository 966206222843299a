"""Everything one server process owns, wired together: probe, waiter, service, hazards.

The generic instrumentation is `stampede.probe`, the same library a user's server installs:
`Runtime.start()` (from the app's lifespan) starts the probe, which makes its instrumented
executor the loop's default one, chains the classifying exception handler and runs the monitor
that measures loop lag and re-checks the wedge every 100 ms. The server adds what only it
knows: the exact waiter cycle as a proof of a wedge, the stall check on its invocations, and
the gc timer, each run on the probe's tick.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import Counter
from typing import Any

from stampede.probe import Probe
from stampede.probe.executor import ExecutorSnapshot
from stampede.probe.wedge import is_wedged
from stampede.server.hazards.build import build_hazards
from stampede.server.idempotency import IdempotencyLedger
from stampede.server.invocations import InvocationService
from stampede.server.model import StubBedrockModel
from stampede.server.sdk import strands_module  # strands itself is imported only when asked
from stampede.server.settings import ServerSettings
from stampede.server.telemetry import Telemetry
from stampede.server.waiters import make_waiter

log = logging.getLogger("stampede.server")


class Runtime:
    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.agent_info = agent_description(settings)
        self.probe = Probe(max_workers=settings.pool_size)
        self.telemetry = Telemetry(self.probe.registry)
        self.probe.metrics.describe(settings.waiter, self.agent_info)
        self.executor = self.probe.executor
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
        self.service.ledger = IdempotencyLedger(settings.idempotency_mode, settings.replay_ttl_s)
        self.wedge = self.probe.wedge
        self.hazards = build_hazards(settings)
        # Requests the limits (server/limits.py) refused, by reason; never a hazard count.
        self.rejected_requests: Counter[str] = Counter()
        self.loop_errors = self.probe.loop_errors
        self.detector = self.probe.detector
        for hazard in self.hazards:  # a hazard may trace reports back to its own requests
            observer = getattr(hazard, "observe_loop_error", None)
            if observer is not None:
                self.detector.observe(observer)
        self.started_at = time.time()
        self.gc_passes = 0
        self.gc_last_at: float | None = None
        self._last_gc = time.monotonic()
        self.probe.proof = self._proof
        self.probe.ticks += [self._check_stall, self._gc_tick]
        self.telemetry.add_gauges(self.gauges)

    async def start(self) -> None:
        # Everything alive now (modules, the app, its routes and schemas) lives as long as the
        # process: freeze it out of the collector's reach. A full pass, which the gc timer runs
        # every second, then walks only what requests made since, not ~60k start-up objects
        # (tens of ms with the loop stopped); leaked tasks are made later and still collected.
        gc.collect()
        gc.freeze()
        if self.settings.gc_mode == "timer":
            gc.disable()
        self._last_gc = time.monotonic()
        self.probe.start()
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
        gc.unfreeze()
        if self.settings.gc_mode == "timer":
            gc.enable()
        await self.probe.stop()

    def abort(self) -> None:
        """Release every waiter and drop queued work: a wedged server must still exit."""
        aborted = self.service.abort_all()
        self.executor.cancel_queued()
        if aborted:
            log.warning("shutdown aborted %d in-flight invocation(s)", aborted)

    def rejected(self, reason: str) -> None:
        self.rejected_requests[reason] += 1

    def _gc_tick(self) -> None:
        # Collect on a timer so "destroyed but pending" shows during a run, not at exit.
        if time.monotonic() - self._last_gc >= self.settings.gc_interval_s:
            gc.collect()
            self._last_gc = time.monotonic()
            self.gc_passes += 1
            self.gc_last_at = time.time()

    def _check_stall(self) -> None:
        self.wedge.update_stall(
            self.service.active_requests, self.service.last_completion, self.settings.stall_seconds
        )

    def _proof(self, snapshot: ExecutorSnapshot) -> tuple[bool, str]:
        """The exact waiter cycle, from the owners this server tagged its work with."""
        if not is_wedged(snapshot, self._settled_lookup()):
            return False, ""
        return True, self._describe(snapshot)

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

    def gauges(self) -> dict[str, object]:
        return {
            "idempotency_waiters": self.service.waiting,
            "inflight_primaries": len(self.service.inflight),
            "orphaned_waiter_workers": self.waiter.orphaned_workers,
        }

    def status(self) -> dict[str, object]:
        snapshot = self.executor.snapshot(stacks=True)
        return {
            "waiter": self.settings.waiter,
            "agent": self.agent_info,
            "cpus": self.settings.effective_cpus,
            "executor": {
                "max_workers": snapshot.max_workers,
                "threads": snapshot.threads,
                "busy": snapshot.busy_by_kind(),
                "parked": len(snapshot.parked),
                "queued": len(snapshot.queued),
                "queued_by_kind": snapshot.queued_by_kind(),
            },
            "waiters": self.service.waiting,
            "orphaned_waiter_workers": self.waiter.orphaned_workers,
            "inflight_primaries": len(self.service.inflight),
            "active_requests": self.service.active_requests,
            "event_loop_tasks": len(self.probe.tasks()),
            "process_threads": self.probe.process_threads(),
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
            "idempotency": self.service.ledger.status(),
            "loop_errors": dict(sorted(self.loop_errors.items())),
            "limits": {
                "max_body_bytes": self.settings.max_body_bytes,
                "max_concurrency": self.settings.max_concurrency,
                "max_sessions_per_connection": self.settings.max_sessions_per_connection,
                "stream_max_duration_s": self.settings.stream_max_duration_s,
                "rejected": dict(sorted(self.rejected_requests.items())),
            },
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
