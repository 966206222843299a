"""The stream-teardown storm (seeds 002/004): SSE clients that drop the connection early.

With `--sdk claude-agent-sdk==...` the same storm runs against each release's own `query()`,
and the server consumes it in each consumption pattern in turn: the summary, verdict and report
then also read pattern by pattern (loadtest/storm/scenarios/consume_report.py).
"""

from __future__ import annotations

from typing import Any

from stampede.loadtest.storm.scenarios.consume_report import (
    consume_sections,
    consume_summary,
    consume_verdict,
)
from stampede.loadtest.storm.scenarios.hazard_report import figures, hazard_summary, hazard_verdict
from stampede.loadtest.storm.scenarios.scenario import for_hazard
from stampede.server.hazards import STREAM as SPEC

_by_variant = hazard_verdict("dropped stream")


def verdict(variants: dict[str, dict[str, Any]]) -> list[str]:
    return _by_variant(variants) + consume_verdict(variants)


STREAM = for_hazard(
    SPEC,
    "SSE clients that read a few events and drop the connection: the abandoned query() "
    "generator is closed by the event loop's finalizer in another task, so a Query whose "
    "anyio task group was entered by hand reports a cancel-scope RuntimeError per dropped "
    "stream; plain asyncio tasks and an owner task report none. With --sdk claude-agent-sdk==..."
    ", each release's own query() serves the stream, consumed in turn in each pattern of the "
    "table below.",
    server_settings={"stream_interval_ms": "50"},
    locust_args={"stream_drop_after": "3"},
    summary_hooks=[hazard_summary("cancel_scope"), consume_summary],
    verdict=verdict,
    figures=figures(),
    sections=consume_sections,
)
