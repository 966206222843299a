"""Tallies export exactly what prometheus_client's Counter and Histogram would."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from stampede.server.tallies import (
    CountedHistogram,
    CounterTally,
    HistogramCount,
    HistogramTally,
    TallyCollector,
)
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
    # A counter that is a histogram's count: calls made, beside their durations.
    calls = Counter("t_model_calls_total", "doc", registry=reference)
    call_seconds = Histogram("t_model_seconds", "doc", buckets=LATENCY_BUCKETS, registry=reference)
    call_seconds_t = HistogramTally("t_model_seconds", "doc", [], LATENCY_BUCKETS)
    call_seconds_t.labels()
    calls_t = HistogramCount(call_seconds_t, "t_model_calls_total", "doc")
    tallied.register(TallyCollector([counter_t, histogram_t, plain_t, call_seconds_t, calls_t]))
    counter.labels("primary", "error")  # exported at zero, never incremented
    counter_t.labels("primary", "error")
    for role, outcome, seconds in OBSERVED:
        counter.labels(role, outcome).inc()
        histogram.labels(role).observe(seconds)
        plain.inc()
        calls.inc()
        call_seconds.observe(seconds)
        counter_t.inc((role, outcome))
        call_seconds_t.observe((), seconds)
        histogram_t.observe((role,), seconds)
        plain_t.inc()
    assert _samples(tallied) == _samples(reference)
    assert _created(tallied) == _created(reference)
    assert histogram_t.count(("duplicate",)) == 3 and plain_t.value() == len(OBSERVED)


def test_a_counted_histogram_exports_the_counter_and_the_coarser_histogram() -> None:
    reference, tallied = CollectorRegistry(), CollectorRegistry()
    counter = Counter("t_invocations_total", "doc", ["role", "outcome"], registry=reference)
    histogram = Histogram("t_seconds", "doc", ["role"], buckets=LATENCY_BUCKETS, registry=reference)
    both = CountedHistogram(
        ("t_seconds", "doc"),
        ("t_invocations_total", "doc"),
        ["role", "outcome"],
        1,
        LATENCY_BUCKETS,
    )
    tallied.register(TallyCollector([both]))
    for role, outcome in (("replay", "ok"), ("primary", "error")):  # made up front, at zero
        counter.labels(role, outcome)
        histogram.labels(role)
        both.labels(role, outcome)
    for role, outcome, seconds in OBSERVED:
        counter.labels(role, outcome).inc()
        histogram.labels(role).observe(seconds)
        both.observe((role, outcome), seconds)
    assert _samples(tallied) == _samples(reference)
    assert _created(tallied) == _created(reference)


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
