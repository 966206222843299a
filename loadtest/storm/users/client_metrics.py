"""Client-side Prometheus metrics: what the storm's clients saw, by variant and request name.

Distributed mode: request events fire where the users run. So every process records its own
requests; a worker drains what it recorded into each report it sends the master (Locust's
`report_to_master` / `worker_report` events, the same channel Locust's own stats use), and
only the master (or a single local runner) serves /metrics. One scrape target therefore sees
the whole storm, however many workers there are.

Exported: stampede_client_requests_total{variant,name,outcome},
stampede_client_request_duration_seconds{variant,name} (histogram), stampede_client_users,
stampede_client_inflight (requests sent and not yet answered; each worker reports its own
count with every report and the master sums the latest of each).
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from locust import events
from locust.runners import WorkerRunner
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector
from stampede.loadtest.storm.users.outcomes import outcome_of

log = logging.getLogger("stampede.client_metrics")

BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
REPORT_KEY = "stampede_client"


class ClientMetrics:
    """Counts and histogram buckets that can be drained on workers and merged on the master."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str, str]] = Counter()
        self.buckets: dict[tuple[str, str], list[int]] = {}  # per-bucket counts, last is +Inf
        self.sums: Counter[tuple[str, str]] = Counter()
        self.inflight = 0  # this process's requests in flight
        self.remote_inflight: dict[str, int] = {}  # master: each worker's latest count

    def started(self) -> None:
        with self._lock:
            self.inflight += 1

    def ended(self) -> None:
        with self._lock:
            self.inflight -= 1

    def total_inflight(self) -> int:
        with self._lock:
            return self.inflight + sum(self.remote_inflight.values())

    def observe(self, variant: str, name: str, outcome: str, seconds: float) -> None:
        with self._lock:
            self.requests[(variant, name, outcome)] += 1
            counts = self.buckets.setdefault((variant, name), [0] * (len(BUCKETS) + 1))
            counts[bisect.bisect_left(BUCKETS, seconds)] += 1
            self.sums[(variant, name)] += seconds

    def drain(self) -> dict[str, Any]:
        """Everything recorded since the last drain, as plain lists (Locust msgpacks reports)."""
        with self._lock:
            data = {
                "requests": [[*key, n] for key, n in self.requests.items()],
                "durations": [[*key, c, self.sums[key]] for key, c in self.buckets.items()],
                "inflight": self.inflight,
            }
            self.requests.clear()
            self.buckets.clear()
            self.sums.clear()
        return data

    def merge(self, data: dict[str, Any], client_id: str = "") -> None:
        with self._lock:
            self.remote_inflight[client_id] = int(data.get("inflight", 0))
            for variant, name, outcome, n in data.get("requests", []):
                self.requests[(variant, name, outcome)] += int(n)
            for variant, name, counts, total in data.get("durations", []):
                mine = self.buckets.setdefault((variant, name), [0] * (len(BUCKETS) + 1))
                for i, n in enumerate(counts[: len(mine)]):
                    mine[i] += int(n)
                self.sums[(variant, name)] += float(total)

    def families(self, users: int) -> Iterable[Any]:
        with self._lock:
            requests = dict(self.requests)
            buckets = {key: list(c) for key, c in self.buckets.items()}
            sums = dict(self.sums)
        counter = CounterMetricFamily(
            "stampede_client_requests",
            "HTTP attempts the storm's clients made, by variant, request name and outcome.",
            labels=["variant", "name", "outcome"],
        )
        for key, n in sorted(requests.items()):
            counter.add_metric(list(key), n)
        yield counter
        histogram = HistogramMetricFamily(
            "stampede_client_request_duration_seconds",
            "Client-observed attempt duration (timeouts count at the client timeout).",
            labels=["variant", "name"],
        )
        for key, counts in sorted(buckets.items()):
            cumulative, running = [], 0
            for bound, n in zip([*map(str, BUCKETS), "+Inf"], counts, strict=True):
                running += n
                cumulative.append((bound, running))
            histogram.add_metric(list(key), cumulative, sums[key])
        yield histogram
        yield GaugeMetricFamily("stampede_client_users", "Users running now.", value=users)
        yield GaugeMetricFamily(
            "stampede_client_inflight",
            "Requests sent and not answered yet.",
            value=self.total_inflight(),
        )


# More families to export next to these (intents register theirs): called at every scrape.
EXTRA_FAMILIES: list[Callable[[], Iterable[Any]]] = []


class _Collector(Collector):
    def __init__(self, store: ClientMetrics, environment: Any) -> None:
        self.store = store
        self.environment = environment

    def collect(self) -> Iterable[Any]:
        runner = self.environment.runner
        yield from self.store.families(int(getattr(runner, "user_count", 0) or 0))
        for extra in EXTRA_FAMILIES:
            yield from extra()


STORE = ClientMetrics()
SETUP_OK = "setup_ok"  # the outcome label of a successful setup step (observe/sampler.py)
_server: Any = None


@events.request.add_listener
def _on_request(
    name: str, response_time: float, exception: BaseException | None, context: Any = None, **_: Any
) -> None:
    variant = (context or {}).get("variant", "default")
    label = name.split(":", 1)[1] if name.startswith(f"{variant}:") else name
    outcome = outcome_of(exception)
    if outcome == "ok" and (context or {}).get("setup"):
        # A workload's setup step (a session created, a protocol initialized) is no answer:
        # a wedged server that still creates sessions must not look like it makes progress.
        outcome = SETUP_OK
    STORE.observe(variant, label, outcome, (response_time or 0.0) / 1000.0)


@events.report_to_master.add_listener
def _on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data[REPORT_KEY] = STORE.drain()


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    if REPORT_KEY in data:
        STORE.merge(data[REPORT_KEY], client_id)


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    global _server
    options = environment.parsed_options
    port = int(getattr(options, "prometheus_port", 0) or 0)
    if port <= 0 or isinstance(environment.runner, WorkerRunner) or _server is not None:
        return
    host = getattr(options, "prometheus_host", None) or "127.0.0.1"
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(STORE, environment))
    try:
        _server, _ = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:  # a taken port costs the export, not the storm
        log.error("client metrics not exported on %s:%d: %s", host, port, exc)
        return
    log.info("client metrics on http://%s:%d/metrics", host, port)


@events.quitting.add_listener
def _on_quitting(**_: Any) -> None:
    global _server
    if _server is not None:
        _server.shutdown()
        _server = None
