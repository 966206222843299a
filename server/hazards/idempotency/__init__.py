"""Duplicate invocations that park executor workers (seed 001): the invocations endpoint.

The app's core serves it (server/invocations.py, with the waiters of server/waiters.py and the
wedge detector of stampede/probe/wedge.py), so the spec names no hazard class; it is the one list of
the waiter implementations, the Locust user and the scenario.
"""

from stampede.server.hazards.spec import HazardSpec

IDEMPOTENCY = HazardSpec(
    name="idempotency",
    setting="waiter",
    impls=("to_thread", "future", "batched"),
    help="how duplicates wait: to_thread (pre-fix), future (the fix, as the SDK ships it) or "
    "batched (the fix with one bridge per primary and loop)",
    user="stampede.loadtest.storm.users.idempotency:IdempotencyStormUser",
    scenario="stampede.loadtest.storm.scenarios.idempotency:IDEMPOTENCY",
)
