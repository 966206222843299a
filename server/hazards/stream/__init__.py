"""Streaming teardown across tasks (seeds 002 and 004): `GET /v1/agents/{agent_id}/stream`.

hazard.py serves the SSE endpoint, query.py holds the Query implementations; `claude-agent-sdk`
serves the same endpoint with the real SDK's `query()` (server/sdk/claude_stream.py, over the
stand-in CLI of server/sdk/claude_transport.py, consumed in the patterns of consume.py). This spec
is the one place that names them, the Locust user and the scenario.
"""

from stampede.server.hazards.spec import HazardSpec

STREAM = HazardSpec(
    name="stream",
    setting="stream_impl",
    impls=("anyio_taskgroup", "asyncio_tasks", "owner_task"),
    help="Query implementation behind the SSE stream endpoint",
    hazard="stampede.server.hazards.stream.hazard:StreamHazard",
    sdk_impls={"claude-agent-sdk": "stampede.server.sdk:claude_stream_hazard"},
    user="stampede.loadtest.storm.users.stream:StreamUser",
    scenario="stampede.loadtest.storm.scenarios.stream:STREAM",
)
