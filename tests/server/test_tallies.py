"""Tallies export exactly what prometheus_client's Counter and Histogram would."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from stampede.server.tallies import CounterTally, HistogramTally, TallyCollector
from stampede.server.telemetry import LATENCY_BUCKETS

# Bounds hit exactly (0.005, 1.0, 60.0), between bounds, beyond the last, zero.
OBSERVED = [
    ("primary", "ok", 0.005), ("primary", "ok", 0.0051), ("duplicate", "ok", 1.0),
    ("primary", "conflict", 0.0), ("duplicate", "timeout", 60.0), ("duplicate", "ok", 61.5),
    ("primary", "ok", 0.3), ("primary", "throttled", 7.5),
]  # fmt: skip


def _samples(registry: CollectorRegistry) -> dict[tuple, float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created")  # a wall-clock time, different by construction
    }


def _created(registry: CollectorRegistry) -> set[tuple]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items())))
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.endswith("_created")
    }


def test_tallies_export_the_samples_prometheus_client_would() -> None:
    reference, tallied = CollectorRegistry(), CollectorRegistry()
    counter = Counter("t_invocations_total", "doc", ["role", "outcome"], registry=reference)
    histogram = Histogram("t_seconds", "doc", ["role"], buckets=LATENCY_BUCKETS, registry=reference)
    plain = Counter("t_calls_total", "doc", registry=reference)
    counter_t = CounterTally("t_invocations_total", "doc", ["role", "outcome"])
    histogram_t = HistogramTally("t_seconds", "doc", ["role"], LATENCY_BUCKETS)
    plain_t = CounterTally("t_calls_total", "doc")
    plain_t.labels()
    tallied.register(TallyCollector([counter_t, histogram_t, plain_t]))
    counter.labels("primary", "error")  # exported at zero, never incremented
    counter_t.labels("primary", "error")
    for role, outcome, seconds in OBSERVED:
        counter.labels(role, outcome).inc()
        histogram.labels(role).observe(seconds)
        plain.inc()
        counter_t.inc((role, outcome))
        histogram_t.observe((role,), seconds)
        plain_t.inc()
    assert _samples(tallied) == _samples(reference)
    assert _created(tallied) == _created(reference)
    assert histogram_t.count(("duplicate",)) == 3 and plain_t.value() == len(OBSERVED)


def test_tallies_count_every_event_from_many_threads() -> None:
    counter, histogram = CounterTally("c_total", "doc"), HistogramTally("h", "doc", [], (1.0,))

    def work() -> None:
        for i in range(5000):
            counter.inc()
            histogram.observe((), 0.5 if i % 2 else 2.0)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.value() == 20_000
    samples = {s.labels.get("le"): s.value for s in histogram.collect().samples}
    assert samples["1.0"] == 10_000 and samples["+Inf"] == 20_000
