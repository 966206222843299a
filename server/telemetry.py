"""Prometheus telemetry. Metric names are a contract: dashboards and the harness read them.

Counters and histograms are updated where things happen; gauges that describe the present
(executor, waiters, tasks, threads, wedge) are read at scrape time by a custom collector, so a
scrape is one consistent snapshot rather than a set of values from different moments.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable

import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from stampede.server import __version__

LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0,
    15.0, 30.0, 60.0,
)  # fmt: skip
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
OUTCOMES = ("ok", "conflict", "timeout", "throttled", "error", "aborted")
LOOP_ERROR_KINDS = (
    "task_exception_never_retrieved",
    "task_destroyed_pending",
    "cancel_scope",
    "other",
)


class Telemetry:
    def __init__(self, waiter: str, agent: str = "builtin") -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self._process = psutil.Process()
        info = Gauge(
            "stampede_build_info",
            "Build and configuration of this server.",
            ["waiter", "version", "python", "agent"],
            registry=self.registry,
        )
        info.labels(waiter, __version__, platform.python_version(), agent).set(1)
        self.invocations = Counter(
            "stampede_invocations_total",
            "Invocations answered, by role and outcome.",
            ["role", "outcome"],
            registry=self.registry,
        )
        self.invocation_seconds = Histogram(
            "stampede_invocation_duration_seconds",
            "Time from request to answer, by role.",
            ["role"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.model_calls = Counter(
            "stampede_model_calls_total",
            "Blocking model calls made.",
            registry=self.registry,
        )
        self.model_call_seconds = Histogram(
            "stampede_model_call_duration_seconds",
            "Time a model call held its worker.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            "stampede_event_loop_lag_seconds",
            "How late the event loop ran a timer it was asked to run.",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.loop_errors = Counter(
            "stampede_loop_errors_total",
            "Errors the event loop reported to its exception handler, by kind.",
            ["kind"],
            registry=self.registry,
        )
        for role in ("primary", "duplicate"):
            self.invocation_seconds.labels(role)
            for outcome in OUTCOMES:
                self.invocations.labels(role, outcome)
        for kind in LOOP_ERROR_KINDS:
            self.loop_errors.labels(kind)

    def invocation_done(self, role: str, outcome: str, seconds: float) -> None:
        self.invocations.labels(role, outcome).inc()
        self.invocation_seconds.labels(role).observe(seconds)

    def model_call(self, seconds: float) -> None:
        # Runs on a worker thread; prometheus_client's metrics are thread-safe.
        self.model_calls.inc()
        self.model_call_seconds.observe(seconds)

    def process_threads(self) -> int:
        return self._process.num_threads()

    def add_gauges(self, read: Callable[[], dict[str, object]]) -> None:
        """Register the scrape-time gauges, fed by `read()` (see Runtime.gauges)."""
        self.registry.register(_StateCollector(read))


class _StateCollector(Collector):
    def __init__(self, read: Callable[[], dict[str, object]]) -> None:
        self._read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        state = self._read()
        yield _gauge("stampede_executor_max_workers", "Workers of the default executor.", state)
        busy = GaugeMetricFamily(
            "stampede_executor_busy_workers",
            "Executor workers running an item, by what the item is.",
            labels=["kind"],
        )
        for kind, count in state["busy_by_kind"].items():  # type: ignore[attr-defined]
            busy.add_metric([kind], count)
        yield busy
        yield _gauge("stampede_executor_queued_items", "Items waiting for a worker.", state)
        yield _gauge("stampede_process_threads", "OS threads of the whole process.", state)
        yield _gauge("stampede_event_loop_tasks", "asyncio tasks not yet done.", state)
        by_name = GaugeMetricFamily(
            "stampede_event_loop_tasks_by_name",
            "Live asyncio tasks by name (top names only).",
            labels=["name"],
        )
        for name, count in state["tasks_by_name"].items():  # type: ignore[attr-defined]
            by_name.add_metric([name], count)
        yield by_name
        yield _gauge("stampede_idempotency_waiters", "Duplicates waiting now.", state)
        yield _gauge("stampede_inflight_primaries", "Primary invocations in flight.", state)
        yield _gauge(
            "stampede_orphaned_waiter_workers",
            "Workers still parked for duplicates that already gave up waiting.",
            state,
        )
        yield _gauge("stampede_wedged", "1 once no executor worker can ever free.", state)
        yield _gauge("stampede_stalled", "1 while requests are in flight but none end.", state)


def _gauge(name: str, doc: str, state: dict[str, object]) -> GaugeMetricFamily:
    key = name.removeprefix("stampede_")
    return GaugeMetricFamily(name, doc, value=float(state[key]))  # type: ignore[arg-type]
