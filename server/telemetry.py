"""The server's own Prometheus metrics: invocations, model calls, waiters. Metric names are a
contract: dashboards and the harness read them.

They live in the probe's registry (stampede.probe), beside the generic executor, loop and wedge
metrics, so one /metrics serves both. Gauges of the present (waiters, primaries, orphaned
workers) are read at scrape time by a collector, like the probe's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from stampede.server.tallies import (
    CountedHistogram,
    HistogramCount,
    HistogramTally,
    TallyCollector,
)

LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0,
    15.0, 30.0, 60.0,
)  # fmt: skip
ROLES = ("primary", "duplicate", "replay")
OUTCOMES = ("ok", "conflict", "mismatch", "timeout", "throttled", "error", "aborted")


class Telemetry:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # stampede_build_info is the probe's (ProbeMetrics.describe), in the same registry.
        self.registry = registry or CollectorRegistry()
        # The per-event metrics are tallies (tallies.py): the same samples, a fraction of
        # the cost on the request path.
        # Requests' durations by role and their count by role and outcome: one update each.
        self.invocations = CountedHistogram(
            ("stampede_invocation_duration_seconds", "Time from request to answer, by role."),
            ("stampede_invocations_total", "Invocations answered, by role and outcome."),
            ["role", "outcome"],
            1,
            LATENCY_BUCKETS,
        )
        self.model_call_seconds = HistogramTally(
            "stampede_model_call_duration_seconds",
            "Time a model call held its worker.",
            [],
            LATENCY_BUCKETS,
        )
        # Every model call is timed, so the call count is the histogram's count.
        self.model_calls = HistogramCount(
            self.model_call_seconds, "stampede_model_calls_total", "Blocking model calls made."
        )
        # A rare event, not on the request path: prometheus_client's own counter.
        self.duplicate_side_effects = Counter(
            "stampede_duplicate_side_effects",
            "Model runs for an idempotency key whose model had already completed a run.",
            registry=self.registry,
        )
        self.model_call_seconds.labels()
        for role in ROLES:
            for outcome in OUTCOMES:
                self.invocations.labels(role, outcome)
        self.registry.register(
            TallyCollector(
                [
                    self.invocations,
                    self.model_calls,
                    self.model_call_seconds,
                ]
            )
        )

    def invocation_done(self, role: str, outcome: str, seconds: float) -> None:
        self.invocations.observe((role, outcome), seconds)

    def model_call(self, seconds: float) -> None:
        # Runs on a worker thread; a tally takes its own lock.
        self.model_call_seconds.observe((), seconds)

    def add_gauges(self, read: Callable[[], dict[str, object]]) -> None:
        """Register the scrape-time gauges, fed by `read()` (see Runtime.gauges)."""
        self.registry.register(_StateCollector(read))


class _StateCollector(Collector):
    def __init__(self, read: Callable[[], dict[str, object]]) -> None:
        self._read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        state = self._read()
        yield _gauge("stampede_idempotency_waiters", "Duplicates waiting now.", state)
        yield _gauge("stampede_inflight_primaries", "Primary invocations in flight.", state)
        yield _gauge(
            "stampede_orphaned_waiter_workers",
            "Workers still parked for duplicates that already gave up waiting.",
            state,
        )


def _gauge(name: str, doc: str, state: dict[str, object]) -> GaugeMetricFamily:
    key = name.removeprefix("stampede_")
    return GaugeMetricFamily(name, doc, value=float(state[key]))  # type: ignore[arg-type]
