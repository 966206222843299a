"""Spin hazard (anyio #1111): `POST /v1/agents/{agent_id}/cancel`, a tool call cut by a deadline.

Concurrency model: the handler starts the tool in a task of its own (as a task group started by
hand does), which enters a cancel scope (server/hazards/spin/scope.py) and runs the tool; after
`deadline_ms` the handler cancels the scope and waits for the task. The tool is slower than the
deadline, so every call is cancelled.
- `wrong_task` (the bug): the handler exits the scope itself, in the request task. The tool's
  task stays held by the scope after it has finished, so the scope's delivery reschedules
  itself on every loop iteration, forever: the answer is right, the process then pins a core.
- `owner_task` (the fix): the tool's task exits the scope in its own `finally`, the delivery
  finds no task and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import Path, Query
from stampede.server.hazards.base import AGENT_ID, SpecHazard
from stampede.server.hazards.spin import SPIN
from stampede.server.hazards.spin.scope import DeliveringScope
from stampede.server.settings import ServerSettings


class SpinHazard(SpecHazard):
    spec = SPIN

    def __init__(self, settings: ServerSettings) -> None:
        super().__init__(settings)
        self.router.add_api_route(
            "/v1/agents/{agent_id}/cancel", self.call_with_deadline, methods=["POST"]
        )

    async def call_with_deadline(
        self,
        agent_id: Annotated[str, Path(pattern=AGENT_ID)],
        tool_ms: Annotated[float, Query(ge=0, le=1_000)] = 200.0,
        deadline_ms: Annotated[float, Query(ge=0, le=1_000)] = 10.0,
    ) -> dict[str, object]:
        scope = DeliveringScope()
        entered = asyncio.Event()
        owner_exits = self.impl == "owner_task"

        async def tool() -> None:
            scope.enter()
            entered.set()
            try:
                await asyncio.sleep(tool_ms / 1000)
            finally:
                if owner_exits:
                    scope.exit()

        task = asyncio.create_task(tool(), name="spin.tool")
        await entered.wait()
        done, _ = await asyncio.wait({task}, timeout=deadline_ms / 1000)
        cancelled = not done
        if cancelled:
            scope.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if not owner_exits:
            scope.exit()  # the bug: exited in the request task, not the tool's
        self.counts["cancelled" if cancelled else "finished"] += 1
        return {"agent_id": agent_id, "cancelled": cancelled}
