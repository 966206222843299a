"""A capacity slot not released on cancellation (litellm #27955, PR #30020): `GET .../limited`.

hazard.py streams SSE behind a max-parallel-requests counter; the buggy implementation gives
its slot back on success and on error but not when the stream is cancelled, the fix in
`finally`. This spec names them (the bug first), the Locust user and the scenario.
"""

from stampede.server.hazards.spec import HazardSpec

SLOT_RELEASE = HazardSpec(
    name="slot_release",
    setting="slot_impl",
    impls=("release_on_return", "release_finally"),
    help="where GET /v1/agents/{id}/limited gives its max-parallel slot back",
    hazard="stampede.server.hazards.slot_release.hazard:SlotReleaseHazard",
    user="stampede.loadtest.storm.users.slot_release:SlotStreamUser",
    scenario="stampede.loadtest.storm.scenarios.slot_release:SLOT_RELEASE",
)
