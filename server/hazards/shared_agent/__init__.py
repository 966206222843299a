"""A shared agent raced by overlapping requests (strands-agents #1176, PR #1453): `POST .../chat`.

hazard.py answers chat turns with an agent object that keeps the conversation; the buggy
implementation shares one agent between every request, the fixes give each session its own or
refuse an overlapping call with a 409. `strands` serves the same route with one real strands
`Agent` shared by every request (server/sdk/strands_shared.py), so the installed release decides
what an overlap does. This spec names them, the Locust user and the scenario.
"""

from stampede.server.hazards.spec import HazardSpec

SHARED_AGENT = HazardSpec(
    name="shared_agent",
    setting="shared_agent_impl",
    impls=("shared", "per_session", "locked"),
    help="which agent object answers POST /v1/agents/{id}/chat",
    hazard="stampede.server.hazards.shared_agent.hazard:SharedAgentHazard",
    sdk_impls={"strands": "stampede.server.sdk:strands_shared_hazard"},
    user="stampede.loadtest.storm.users.shared_agent:SharedAgentUser",
    scenario="stampede.loadtest.storm.scenarios.shared_agent:SHARED_AGENT",
)
