"""Event-loop blocking hazard (mcp python-sdk #1646): `POST /v1/agents/{agent_id}/tool`.

The tool is a plain sync function that blocks for `ms` milliseconds (time.sleep stands in for
a sync HTTP client, a file read, a CPU-bound parse). `inline` calls it straight from the async
handler, as FastMCP did with sync tools: the event loop's thread is inside time.sleep, so every
other request, timer and health check on the loop waits behind it. `to_thread` runs it on a
worker thread and awaits the result, so the loop stays free.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import Path, Query
from stampede.server.hazards.base import AGENT_ID, SpecHazard
from stampede.server.hazards.loop_block import LOOP_BLOCK
from stampede.server.settings import ServerSettings


def blocking_tool(agent_id: str, ms: float) -> dict[str, object]:
    """The user's sync tool: blocks its thread for `ms`."""
    time.sleep(ms / 1000)
    return {"agent_id": agent_id, "tool": "lookup", "took_ms": ms}


class LoopBlockHazard(SpecHazard):
    spec = LOOP_BLOCK

    def __init__(self, settings: ServerSettings) -> None:
        super().__init__(settings)
        self.router.add_api_route(
            "/v1/agents/{agent_id}/tool", self.call_tool, methods=["POST"], status_code=200
        )

    async def call_tool(
        self,
        agent_id: Annotated[str, Path(pattern=AGENT_ID)],
        ms: Annotated[float, Query(ge=0, le=1_000)] = 50.0,
    ) -> dict[str, object]:
        self.counts["calls"] += 1
        if self.impl == "inline":
            return blocking_tool(agent_id, ms)  # the bug: the loop's thread sleeps here
        return await asyncio.to_thread(blocking_tool, agent_id, ms)
