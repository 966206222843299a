"""Tool calls with a deadline, cut by a cancellation that is re-delivered until acknowledged.

    uvicorn examples.deadline_tools:app --port 8000        # the request task acknowledges
    uvicorn examples.deadline_tools:fixed_app --port 8000  # the tool's own task does

`POST /v1/agents/{agent}/cancel?tool_ms=T&deadline_ms=D` runs a tool in a task of its own and
cancels it after D ms. Like anyio's cancel scopes, the canceller re-delivers the cancellation
on every loop iteration (`call_soon`) until the cancelled task acknowledges, since a task may
swallow one cancel. In `app` the handler acknowledges on the tool's behalf, with its own
task: the tool's task is never struck off, and the re-delivery runs forever after the answer,
pinning a core while the server serves nothing (anyio #1111: a cancel scope exited in the
wrong task). In `fixed_app` the tool's task acknowledges in its own `finally`.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI


class Canceller:
    def __init__(self) -> None:
        self.pending: set[asyncio.Task[object]] = set()

    def register(self) -> None:
        self.pending.add(asyncio.current_task())  # type: ignore[arg-type]

    def acknowledge(self) -> None:
        self.pending.discard(asyncio.current_task())  # type: ignore[arg-type]

    def cancel(self) -> None:
        asyncio.get_running_loop().call_soon(self._deliver)

    def _deliver(self) -> None:
        for task in self.pending:
            if not task.done():
                task.cancel()
        if self.pending:  # not acknowledged yet: try again on the next iteration
            asyncio.get_running_loop().call_soon(self._deliver)


def create_app(*, fixed: bool) -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/agents/{agent}/cancel")
    async def call_with_deadline(
        agent: str, tool_ms: float = 200.0, deadline_ms: float = 10.0
    ) -> dict[str, object]:
        canceller = Canceller()
        registered = asyncio.Event()

        async def tool() -> None:
            canceller.register()
            registered.set()
            try:
                await asyncio.sleep(min(tool_ms, 5_000) / 1000)
            finally:
                if fixed:
                    canceller.acknowledge()

        task = asyncio.create_task(tool())
        await registered.wait()
        done, _ = await asyncio.wait({task}, timeout=min(deadline_ms, 5_000) / 1000)
        if not done:
            canceller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if not fixed:
            canceller.acknowledge()  # the bug: acknowledged from the request's task
        return {"agent": agent, "cancelled": not done}

    return app


app = create_app(fixed=False)
fixed_app = create_app(fixed=True)
