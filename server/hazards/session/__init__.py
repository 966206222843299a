"""Cancelled sessions that leak tasks (seed 003): `WS /v1/agents/{agent_id}/session`.

hazard.py serves the WebSocket bridge, runners.py holds the implementations, connection.py the
agent connection they run; `acp` serves the same endpoint with the real agent-client-protocol
(server/sdk/acp_session.py). This spec is the one place that names them all.
"""

from stampede.server.hazards.spec import HazardSpec

SESSION = HazardSpec(
    name="session",
    setting="session_impl",
    impls=("bare", "closing"),
    help="how the WebSocket session runs its agent connection",
    hazard="stampede.server.hazards.session.hazard:SessionHazard",
    sdk_impls={"acp": "stampede.server.sdk:acp_session_hazard"},
    user="stampede.loadtest.storm.users.session:HealthCheckUser",
    scenario="stampede.loadtest.storm.scenarios.session:SESSION",
)
