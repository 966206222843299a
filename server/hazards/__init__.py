"""The hazard registry: one folder per hazard under server/hazards/, one line per hazard here.

A hazard folder holds its implementations and, in its `__init__.py`, one `HazardSpec`
(server/hazards/spec.py) naming them (the buggy one first), its server class, its Locust user
and its `stampede compare` scenario. Everything else reads this list: the settings accept each
spec's implementations for its field, the app mounts each spec's hazard (server/hazards/
build.py), `/v1/status` lists them, the locustfile exposes each user and the harness's scenario
registry (loadtest/storm/scenarios/) loads each scenario.

A new hazard is a new folder here (spec + implementations + hazard class), its Locust user in
loadtest/storm/users/, its scenario in loadtest/storm/scenarios/, and one entry below.
"""

from __future__ import annotations

from stampede.server.hazards.idempotency import IDEMPOTENCY
from stampede.server.hazards.loop_block import LOOP_BLOCK
from stampede.server.hazards.session import SESSION
from stampede.server.hazards.shared_agent import SHARED_AGENT
from stampede.server.hazards.slot_release import SLOT_RELEASE
from stampede.server.hazards.spec import HazardSpec
from stampede.server.hazards.spin import SPIN
from stampede.server.hazards.state_leak import STATE_LEAK
from stampede.server.hazards.stream import STREAM
from stampede.server.hazards.thread_limiter import THREAD_LIMITER

# In the order `stampede compare --scenario all` runs them.
HAZARDS: tuple[HazardSpec, ...] = (
    IDEMPOTENCY,
    STREAM,
    SESSION,
    LOOP_BLOCK,
    SPIN,
    STATE_LEAK,
    THREAD_LIMITER,
    SLOT_RELEASE,
    SHARED_AGENT,
)
BY_NAME: dict[str, HazardSpec] = {spec.name: spec for spec in HAZARDS}

__all__ = [
    "BY_NAME",
    "HAZARDS",
    "IDEMPOTENCY",
    "LOOP_BLOCK",
    "SESSION",
    "SHARED_AGENT",
    "SLOT_RELEASE",
    "SPIN",
    "STATE_LEAK",
    "STREAM",
    "THREAD_LIMITER",
    "HazardSpec",
]
