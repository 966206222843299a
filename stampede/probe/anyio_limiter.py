"""anyio's default thread limiter as Prometheus gauges: tokens total, borrowed, tasks waiting.

Sync FastAPI/Starlette routes and sync dependencies run on anyio's worker threads, each
borrowing a token of one CapacityLimiter (40 by default). When every token is borrowed and
tasks wait for one, nothing sync can start: waiters holding the tokens starve the work they
wait for (fastapi #3205). These gauges are the exact reading of that state.

The limiter lives in a per-loop RunVar, so `bind()` looks it up from the loop's thread (the
probe's start); a scrape then reads the object's counters from any thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

TOKENS_TOTAL = "stampede_anyio_tokens_total"
TOKENS_BORROWED = "stampede_anyio_tokens_borrowed"
WAITING_TASKS = "stampede_anyio_waiting_tasks"


def default_limiter() -> Any | None:
    """The running loop's default anyio thread limiter, or None without anyio or a loop."""
    try:
        import anyio.to_thread  # optional: a probed program need not use anyio at all
    except ImportError:
        return None
    try:
        return anyio.to_thread.current_default_thread_limiter()
    except Exception:  # no running loop anyio recognises
        return None


def limiter_reading(limiter: Any) -> tuple[float, float, int]:
    """(total tokens, borrowed tokens, tasks waiting for a token) of one CapacityLimiter."""
    return (
        float(limiter.total_tokens),
        float(limiter.borrowed_tokens),
        int(limiter.statistics().tasks_waiting),
    )


class AnyioLimiterCollector(Collector):
    """The three gauges, read at scrape time; absent until `bind()` found a limiter."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.limiter: Any | None = None
        registry.register(self)

    def bind(self) -> None:
        """Look the default limiter up; call from the event loop's thread."""
        self.limiter = default_limiter()

    def collect(self) -> Iterable[GaugeMetricFamily]:
        if self.limiter is None:
            return []
        try:
            total, borrowed, waiting = limiter_reading(self.limiter)
        except Exception:  # a reading racing the loop: skip this scrape's three gauges
            return []
        return [
            GaugeMetricFamily(TOKENS_TOTAL, "Tokens of anyio's default thread limiter.", total),
            GaugeMetricFamily(
                TOKENS_BORROWED, "Tokens borrowed: sync routes/deps running.", borrowed
            ),
            GaugeMetricFamily(WAITING_TASKS, "Tasks waiting for a thread token.", waiting),
        ]
