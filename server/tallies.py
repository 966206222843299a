"""Counters and histograms for the request path: plain numbers under one lock, exported at
scrape time with exactly the samples prometheus_client's own Counter and Histogram write.

Why not prometheus_client's: each `labels(...).inc()` or `.observe()` walks its label lookup,
its checks and one lock per value (a histogram observation takes three); on a path that
releases ten thousand waiting duplicates at once those few microseconds each are more than the
wake-up itself. A tally takes one uncontended lock and a few list updates per event, and a
scrape reads all of it under the same lock, so what it exports is one consistent snapshot.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterable, Sequence

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

Labels = tuple[str, ...]


class CounterTally:
    """A labelled counter: `inc(labels)`; exported as `<name>_total` and `<name>_created`."""

    def __init__(self, name: str, doc: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name.removesuffix("_total")
        self.doc = doc
        self.labelnames = tuple(labelnames)
        self._lock = threading.Lock()
        self._values: dict[Labels, list[float]] = {}  # labels -> [value, created]

    def labels(self, *labels: str) -> None:
        """Export this label set from now on, at zero (as prometheus_client's labels() does)."""
        with self._lock:
            self._values.setdefault(labels, [0.0, time.time()])

    def inc(self, labels: Labels = (), amount: float = 1.0) -> None:
        with self._lock:
            entry = self._values.get(labels)
            if entry is None:
                entry = self._values[labels] = [0.0, time.time()]
            entry[0] += amount

    def value(self, labels: Labels = ()) -> float:
        with self._lock:
            entry = self._values.get(labels)
            return 0.0 if entry is None else entry[0]

    def collect(self) -> Metric:
        family = CounterMetricFamily(self.name, self.doc, labels=self.labelnames)
        with self._lock:
            for labels, (value, created) in self._values.items():
                family.add_metric(list(labels), value, created=created)
        return family


class HistogramTally:
    """A labelled histogram with fixed bucket bounds: `observe(labels, value)`."""

    def __init__(
        self, name: str, doc: str, labelnames: Sequence[str], buckets: Sequence[float]
    ) -> None:
        self.name = name
        self.doc = doc
        self.labelnames = tuple(labelnames)
        self.bounds = tuple(float(b) for b in buckets)
        self._lock = threading.Lock()
        # labels -> [per-bucket counts (not cumulative; the last is +Inf), sum, created]
        self._values: dict[Labels, list] = {}

    def _entry(self, labels: Labels) -> list:
        entry = self._values.get(labels)
        if entry is None:
            entry = self._values[labels] = [[0] * (len(self.bounds) + 1), 0.0, time.time()]
        return entry

    def labels(self, *labels: str) -> None:
        with self._lock:
            self._entry(labels)

    def observe(self, labels: Labels, value: float) -> None:
        # The bucket whose bound is the first >= value, as a Prometheus `le` bucket counts it.
        index = bisect.bisect_left(self.bounds, value)
        with self._lock:
            entry = self._entry(labels)
            entry[0][index] += 1
            entry[1] += value

    def count(self, labels: Labels = ()) -> int:
        with self._lock:
            entry = self._values.get(labels)
            return 0 if entry is None else sum(entry[0])

    def collect(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.doc, labels=self.labelnames)
        les = [*(floatToGoString(b) for b in self.bounds), "+Inf"]
        with self._lock:
            for labels, (counts, total, created) in self._values.items():
                cumulative, running = [], 0
                for le, count in zip(les, counts, strict=True):
                    running += count
                    cumulative.append((le, running))
                family.add_metric(list(labels), cumulative, total)
                names = dict(zip(self.labelnames, labels, strict=True))
                family.samples.append(Sample(f"{self.name}_created", names, created))
        return family


class TallyCollector(Collector):
    """Registers tallies with a prometheus_client registry."""

    def __init__(self, tallies: Iterable[CounterTally | HistogramTally]) -> None:
        self.tallies = list(tallies)

    def collect(self) -> Iterable[Metric]:
        for tally in self.tallies:
            yield tally.collect()
