"""Which figures a compare report draws: plain data, so scenarios can name theirs cheaply.

A `Figure` is one PNG (one panel per variant, loadtest/report/plots.py draws it) of one or more
`Series`, each a column of the sampler's rows or of Locust's history. `FIGURES` are the standard
ones every compare run draws; a scenario adds its own (loadtest/storm/scenarios/).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Series:
    label: str
    column: str
    # or "history" (Locust's per-second aggregated rows), or "intents" (1 s intent buckets)
    source: str = "samples"
    scale: float = 1.0


@dataclass(frozen=True)
class Figure:
    filename: str
    title: str
    ylabel: str
    series: tuple[Series, ...]
    reference: str | None = None  # variant key drawn as a dashed horizontal line
    reference_label: str = "pool size"


# Intent figures first: they tell the designs apart ("intents" rows: 1 s buckets of
# loadtest/verdict/intents.py's timeline). Then the server's internals, then raw attempt figures.
INTENT_FIGURES = (
    Figure(
        "goodput.png",
        "Goodput: intents answered per second, and intents started",
        "intents/s",
        (
            Series("goodput", "goodput", "intents"),
            Series("intents started", "intents_per_s", "intents"),
        ),
    ),
    Figure(
        "amplification.png",
        "Amplification: attempts per intent, by intended start",
        "attempts/intent",
        (Series("attempts per intent", "amplification", "intents"),),
    ),
    Figure(
        "intent_latency.png",
        "Intent latency, intended start to first answer (by intended start)",
        "ms",
        (
            Series("p50", "intent_p50_ms", "intents"),
            Series("p99", "intent_p99_ms", "intents"),
        ),
    ),
)

FIGURES = (
    *INTENT_FIGURES,
    Figure("threads.png", "Server process threads", "threads", (Series("threads", "threads"),)),
    Figure(
        "waiter_threads.png",
        "Executor workers parked by idempotency waiters",
        "workers",
        (Series("parked by waiters", "busy_waiter"), Series("running model calls", "busy_model")),
        reference="executor_max_workers",
    ),
    Figure(
        "executor_queue.png",
        "Work queued for an executor worker",
        "items",
        (Series("queued", "executor_queued"),),
    ),
    Figure(
        "event_loop_tasks.png",
        "Pending asyncio tasks",
        "tasks",
        (Series("tasks not done", "event_loop_tasks"),),
    ),
    Figure(
        "latency.png",
        "Attempt latency percentiles (Locust, 10 s window)",
        "ms",
        (
            Series("p50", "p50", "history"),
            Series("p95", "p95", "history"),
            Series("p99", "p99", "history"),
        ),
    ),
    Figure(
        "throughput.png",
        "Client throughput and failures",
        "requests/s",
        (Series("requests/s", "client_rps"), Series("failures/s", "client_failures_per_s")),
    ),
    Figure(
        "memory.png",
        "Server resident memory",
        "MiB",
        (Series("RSS", "rss_bytes", scale=1 / (1 << 20)),),
    ),
)
