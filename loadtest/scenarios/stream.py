"""The stream-teardown storm (seeds 002/004): SSE clients that drop the connection early."""

from __future__ import annotations

from stampede.loadtest.scenarios.hazard_report import figures, hazard_summary, hazard_verdict
from stampede.loadtest.scenarios.scenario import for_hazard
from stampede.server.hazards import STREAM as SPEC

STREAM = for_hazard(
    SPEC,
    "SSE clients that read a few events and drop the connection: the abandoned query() "
    "generator is closed by the event loop's finalizer in another task, so a Query whose "
    "anyio task group was entered by hand reports a cancel-scope RuntimeError per dropped "
    "stream; plain asyncio tasks and an owner task report none.",
    server_settings={"stream_interval_ms": "50"},
    locust_args={"stream_drop_after": "3"},
    summary_hooks=[hazard_summary("cancel_scope")],
    verdict=hazard_verdict("dropped stream"),
    figures=figures(),
)
