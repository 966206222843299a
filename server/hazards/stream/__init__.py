"""Streaming teardown across tasks (seeds 002 and 004): `GET /v1/agents/{agent_id}/stream`.

hazard.py serves the SSE endpoint, query.py holds the Query implementations; this spec is the
one place that names them, the Locust user and the scenario.
"""

from stampede.server.hazards.spec import HazardSpec

STREAM = HazardSpec(
    name="stream",
    setting="stream_impl",
    impls=("anyio_taskgroup", "asyncio_tasks", "owner_task"),
    hazard="stampede.server.hazards.stream.hazard:StreamHazard",
    user="stampede.loadtest.users.stream:StreamUser",
    scenario="stampede.loadtest.scenarios.stream:STREAM",
)
