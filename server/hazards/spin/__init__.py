"""A loop spinning after cancel-scope misuse (anyio #1111, mitigated by anyio PR #1217).

When a cancel scope is exited in a task other than the one that entered it, anyio's
`_deliver_cancellation` keeps rescheduling itself with `call_soon` for a task that will never
acknowledge, and the process pins a core while it serves nothing (reported by MCP clients and
servers, nanobot #3638/PR #3640, mcpo #302). scope.py holds a cancel scope with the same
delivery loop; hazard.py serves `POST /v1/agents/{agent_id}/cancel`: `wrong_task` (the bug)
exits the scope in the request task, `owner_task` (the fix) in the task that entered it.
"""

from stampede.server.hazards.spec import HazardSpec

SPIN = HazardSpec(
    name="spin",
    setting="cancel_impl",
    impls=("wrong_task", "owner_task"),
    help="which task exits the tool call's cancel scope: wrong_task (the bug: its delivery "
    "loop spins forever) or owner_task (the fix)",
    hazard="stampede.server.hazards.spin.hazard:SpinHazard",
    user="stampede.loadtest.storm.users.spin:CancelCallUser",
    scenario="stampede.loadtest.storm.scenarios.spin:SPIN",
)
