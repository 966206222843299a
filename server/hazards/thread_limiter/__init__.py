"""anyio thread-limiter exhaustion (fastapi #3205, PR #5122): `GET /v1/agents/{id}/build`.

hazard.py serves a sync route whose duplicates (same `key`) wait on an Event that the primary
sets from a sync step; sync routes and that step share anyio's one default CapacityLimiter(40).
This spec names the implementations (the bug first), the Locust user and the scenario.
"""

from stampede.server.hazards.spec import HazardSpec

THREAD_LIMITER = HazardSpec(
    name="thread_limiter",
    setting="thread_limiter_impl",
    impls=("sync_wait", "async_wait"),
    help="how duplicates of GET /v1/agents/{id}/build wait for their primary's sync step",
    hazard="stampede.server.hazards.thread_limiter.hazard:ThreadLimiterHazard",
    user="stampede.loadtest.storm.users.thread_limiter:LimiterStormUser",
    scenario="stampede.loadtest.storm.scenarios.thread_limiter:THREAD_LIMITER",
)
