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

    def snapshot(self) -> list[tuple[Labels, list[int], float, float]]:
        """(labels, per-bucket counts, sum, created) of every label set, read at one moment."""
        with self._lock:
            return [(k, list(v[0]), v[1], v[2]) for k, v in self._values.items()]

    def collect(self) -> Metric:
        return histogram_family(self.name, self.doc, self.labelnames, self.bounds, self.snapshot())


def histogram_family(
    name: str,
    doc: str,
    labelnames: Sequence[str],
    bounds: Sequence[float],
    rows: Iterable[tuple[Labels, list[int], float, float]],
) -> Metric:
    """A histogram's samples, as prometheus_client writes them, from (labels, per-bucket
    counts, sum, created) rows."""
    family = HistogramMetricFamily(name, doc, labels=labelnames)
    les = [*(floatToGoString(b) for b in bounds), "+Inf"]
    for labels, counts, total, created in rows:
        cumulative, running = [], 0
        for le, count in zip(les, counts, strict=True):
            running += count
            cumulative.append((le, running))
        family.add_metric(list(labels), cumulative, total)
        names = dict(zip(labelnames, labels, strict=True))
        family.samples.append(Sample(f"{name}_created", names, created))
    return family


class HistogramCount:
    """A counter that is a histogram's observation count, for a pair of metrics that always
    move together (calls made, and their durations): one tally update per event, not two."""

    def __init__(self, histogram: HistogramTally, name: str, doc: str) -> None:
        self.histogram = histogram
        self.name = name.removesuffix("_total")
        self.doc = doc

    def collect(self) -> Metric:
        family = CounterMetricFamily(self.name, self.doc, labels=self.histogram.labelnames)
        for labels, counts, _total, created in self.histogram.snapshot():
            family.add_metric(list(labels), float(sum(counts)), created=created)
        return family


class CountedHistogram:
    """One update per event feeding two metrics: a histogram by the leading labels and a
    counter by all of them (requests' durations by role, their count by role and outcome).
    Kept as one histogram by all the labels; a scrape sums it down to the leading ones."""

    def __init__(
        self,
        histogram: tuple[str, str],  # name, doc
        counter: tuple[str, str],
        labelnames: Sequence[str],
        histogram_labels: int,
        buckets: Sequence[float],
    ) -> None:
        self.fine = HistogramTally(*histogram, labelnames, buckets)
        self.counter_name, self.counter_doc = counter[0].removesuffix("_total"), counter[1]
        self.labelnames = tuple(labelnames)
        self.leading = histogram_labels

    def labels(self, *labels: str) -> None:
        self.fine.labels(*labels)

    def observe(self, labels: Labels, value: float) -> None:
        self.fine.observe(labels, value)

    def collect(self) -> list[Metric]:
        counts = CounterMetricFamily(self.counter_name, self.counter_doc, labels=self.labelnames)
        coarse: dict[Labels, tuple[list[int], float, float]] = {}
        for labels, buckets, total, created in self.fine.snapshot():
            counts.add_metric(list(labels), float(sum(buckets)), created=created)
            key = labels[: self.leading]
            if key in coarse:
                summed, subtotal, first = coarse[key]
                buckets = [a + b for a, b in zip(summed, buckets, strict=True)]
                total, created = subtotal + total, min(first, created)
            coarse[key] = (buckets, total, created)
        fine = self.fine
        histogram = histogram_family(
            fine.name,
            fine.doc,
            self.labelnames[: self.leading],
            fine.bounds,
            [(key, *value) for key, value in coarse.items()],
        )
        return [histogram, counts]


class TallyCollector(Collector):
    """Registers tallies with a prometheus_client registry."""

    def __init__(
        self, tallies: Iterable[CounterTally | HistogramTally | HistogramCount | CountedHistogram]
    ) -> None:
        self.tallies = list(tallies)

    def collect(self) -> Iterable[Metric]:
        for tally in self.tallies:
            collected = tally.collect()
            yield from collected if isinstance(collected, list) else [collected]
