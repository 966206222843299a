"""Event-loop blocking (mcp python-sdk #1646): a sync call inside an async handler.

FastMCP ran sync tools inline on the event loop until 2.0: while one tool call sleeps or does
blocking I/O, nothing else on the loop runs, health checks included. hazard.py serves
`POST /v1/agents/{agent_id}/tool`; `inline` (the bug) calls the sync tool in the handler,
`to_thread` (the fix) hands it to a worker thread and awaits it.
"""

from stampede.server.hazards.spec import HazardSpec

LOOP_BLOCK = HazardSpec(
    name="loop_block",
    setting="tool_impl",
    impls=("inline", "to_thread"),
    help="how the async tool endpoint runs its sync tool: inline on the event loop (the bug) "
    "or to_thread (the fix)",
    hazard="stampede.server.hazards.loop_block.hazard:LoopBlockHazard",
    user="stampede.loadtest.storm.users.loop_block:ToolCallUser",
    scenario="stampede.loadtest.storm.scenarios.loop_block:LOOP_BLOCK",
)
