"""The probe's Prometheus metrics. Their names are Stampede's metric contract (README): the
dashboards and `stampede compare` read them, from the built-in server and from any probed one.

Counters and histograms are updated where things happen; gauges that describe the present
(executor, tasks, threads, wedge) are read at scrape time by a collector, so one scrape is one
consistent snapshot rather than values from different moments.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from stampede import __version__

LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LOOP_ERROR_KINDS = (
    "task_exception_never_retrieved",
    "task_destroyed_pending",
    "cancel_scope",
    "other",
)


@dataclass(frozen=True)
class ProbeGauges:
    """What the probe's gauges show at one scrape."""

    executor_max_workers: int
    busy_by_kind: Mapping[str, int]
    executor_queued_items: int
    executor_parked_workers: int
    process_threads: int
    event_loop_tasks: int
    tasks_by_name: Mapping[str, int]
    wedged: bool
    stalled: bool
    # Every other pool (stampede/probe/pools.py): (pool, workers, parked, queued) each, and
    # anyio's default thread limiter (tokens total, borrowed, tasks waiting) when it is read.
    pools: tuple[tuple[str, int, int, int], ...] = ()
    anyio: tuple[float, int, int] | None = None


class ProbeMetrics:
    """The registry every probed metric lives in, and the probe's own counters."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.loop_lag = Histogram(
            "stampede_event_loop_lag_seconds",
            "How late the event loop ran a timer it was asked to run.",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        # CPU time of the loop's own thread, read by the loop each tick (time.thread_time): with
        # nothing in flight a healthy loop sleeps in its selector and this stands still; a loop
        # spinning on a callback that reschedules itself (anyio #1111) adds ~1 s per second.
        self.loop_cpu = Counter(
            "stampede_event_loop_thread_cpu_seconds_total",
            "CPU time the event loop's thread has used.",
            registry=self.registry,
        )
        self.loop_errors = Counter(
            "stampede_loop_errors_total",
            "Errors the event loop reported to its exception handler, by kind.",
            ["kind"],
            registry=self.registry,
        )
        for kind in LOOP_ERROR_KINDS:
            self.loop_errors.labels(kind)
        # The dashboards list servers by this series, so a probed server has one too.
        self.build_info = Gauge(
            "stampede_build_info",
            "Build and configuration of this server.",
            ["waiter", "version", "python", "agent"],
            registry=self.registry,
        )
        self.describe("unknown", "probed")

    def describe(self, waiter: str, agent: str) -> None:
        """What stampede_build_info says this server is (one series, replaced)."""
        self.build_info.clear()
        self.build_info.labels(waiter, __version__, platform.python_version(), agent).set(1)

    def add_gauges(self, read: Callable[[], ProbeGauges]) -> None:
        self.registry.register(_ProbeCollector(read))


class _ProbeCollector(Collector):
    def __init__(self, read: Callable[[], ProbeGauges]) -> None:
        self._read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        g = self._read()
        yield GaugeMetricFamily(
            "stampede_executor_max_workers",
            "Workers of the default executor.",
            value=g.executor_max_workers,
        )
        busy = GaugeMetricFamily(
            "stampede_executor_busy_workers",
            "Executor workers running an item, by what the item is.",
            labels=["kind"],
        )
        for kind, count in g.busy_by_kind.items():
            busy.add_metric([kind], count)
        yield busy
        yield GaugeMetricFamily(
            "stampede_executor_queued_items",
            "Items waiting for a worker.",
            value=g.executor_queued_items,
        )
        yield GaugeMetricFamily(
            "stampede_executor_parked_workers",
            "Workers running an item that is parked in a wait primitive (not working).",
            value=g.executor_parked_workers,
        )
        yield GaugeMetricFamily(
            "stampede_process_threads", "OS threads of the whole process.", value=g.process_threads
        )
        yield GaugeMetricFamily(
            "stampede_event_loop_tasks", "asyncio tasks not yet done.", value=g.event_loop_tasks
        )
        by_name = GaugeMetricFamily(
            "stampede_event_loop_tasks_by_name",
            "Live asyncio tasks by name (top names only).",
            labels=["name"],
        )
        for name, count in g.tasks_by_name.items():
            by_name.add_metric([name], count)
        yield by_name
        yield GaugeMetricFamily(
            "stampede_wedged", "1 once no executor worker can ever free.", value=int(g.wedged)
        )
        yield GaugeMetricFamily(
            "stampede_stalled",
            "1 while requests are in flight but none end.",
            value=int(g.stalled),
        )
        yield from _pool_families(g)


def _pool_families(g: ProbeGauges) -> Iterable[GaugeMetricFamily]:
    """Every other thread pool by name, and anyio's default thread limiter."""
    families = {
        "workers": GaugeMetricFamily(
            "stampede_pool_workers", "Worker threads of each other pool.", labels=["pool"]
        ),
        "parked": GaugeMetricFamily(
            "stampede_pool_parked_workers",
            "Workers of each other pool parked in a wait primitive.",
            labels=["pool"],
        ),
        "queued": GaugeMetricFamily(
            "stampede_pool_queued_items",
            "Work queued for each other pool (anyio: tasks waiting for a token).",
            labels=["pool"],
        ),
    }
    totals: dict[str, list[int]] = {}
    for pool, workers, parked, queued in g.pools:
        sums = totals.setdefault(pool, [0, 0, 0])
        for i, n in enumerate((workers, parked, queued)):
            sums[i] += n
    for pool, (workers, parked, queued) in sorted(totals.items()):
        families["workers"].add_metric([pool], workers)
        families["parked"].add_metric([pool], parked)
        families["queued"].add_metric([pool], queued)
    yield from families.values()
    if g.anyio is not None:
        total, borrowed, waiting = g.anyio
        yield GaugeMetricFamily(
            "stampede_anyio_tokens_total",
            "Tokens of anyio's default thread limiter (its worker threads' cap).",
            value=total,
        )
        yield GaugeMetricFamily(
            "stampede_anyio_tokens_borrowed",
            "Tokens of anyio's default thread limiter borrowed now (workers in use).",
            value=borrowed,
        )
        yield GaugeMetricFamily(
            "stampede_anyio_waiting_tasks",
            "Tasks waiting for a token of anyio's default thread limiter.",
            value=waiting,
        )
