"""An agent server whose tool is a plain sync function, called from an async endpoint.

    uvicorn examples.sync_tool:app --port 8000          # calls the sync tool on the event loop
    uvicorn examples.sync_tool:fixed_app --port 8000    # runs it on a worker thread

`POST /v1/agents/{agent}/tool?ms=N` runs a tool that does N ms of blocking I/O (a sync HTTP
client, say). `app` calls it inline in its `async def` handler, as FastMCP did with sync tools
before 2.0 (mcp python-sdk #1646): while it runs, the event loop's thread is inside the call
and nothing else is served, `/healthz` included. `fixed_app` awaits it with
`asyncio.to_thread`, so the loop keeps serving.
"""

from __future__ import annotations

import asyncio
import time

from fastapi import FastAPI


def lookup(agent: str, ms: float) -> dict[str, object]:
    """The tool: blocking I/O standing in for a sync client library."""
    time.sleep(ms / 1000)
    return {"agent": agent, "result": "42"}


def create_app(*, fixed: bool) -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/agents/{agent}/tool")
    async def call_tool(agent: str, ms: float = 50.0) -> dict[str, object]:
        if fixed:
            return await asyncio.to_thread(lookup, agent, min(ms, 5_000))
        return lookup(agent, min(ms, 5_000))

    return app


app = create_app(fixed=False)
fixed_app = create_app(fixed=True)
