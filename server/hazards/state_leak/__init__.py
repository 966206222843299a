"""Per-session state that is never reaped (mcp python-sdk #1283).

The SDK's streamable-HTTP manager kept every session in `_server_instances` unless the client
sent DELETE; an opt-in `session_idle_timeout` arrived in 1.27.0, and #3300 reports DELETE not
always deregistering. hazard.py serves `POST /v1/sessions` (open a session and answer its
first message) and `DELETE /v1/sessions/{id}`: `kept` (the bug) holds each session's task and
buffer forever, `reaped` (the fix) drops them on DELETE or after an idle timeout.
"""

from stampede.server.hazards.spec import HazardSpec

STATE_LEAK = HazardSpec(
    name="state_leak",
    setting="session_store",
    impls=("kept", "reaped"),
    help="what happens to a session's state when its client goes quiet: kept forever (the "
    "bug) or reaped on close and on idle (the fix)",
    hazard="stampede.server.hazards.state_leak.hazard:StateLeakHazard",
    user="stampede.loadtest.storm.users.state_leak:SessionOpenUser",
    scenario="stampede.loadtest.storm.scenarios.state_leak:STATE_LEAK",
)
