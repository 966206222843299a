"""A WebSocket bridge to an agent connection with a sender and a dispatcher task.

    uvicorn examples.ws_bridge:app --port 8000          # the agent task is cancelled bare
    uvicorn examples.ws_bridge:fixed_app --port 8000    # ... and closes its connection

`WS /v1/agents/{agent}/session` speaks JSON-RPC: `initialize` gets a result. The bridge runs
the agent as a task and races it against the socket; when the peer leaves (a health checker:
open, initialize, close) the bridge cancels the agent task. `app`'s agent awaits
`conn.listen()` with no try/finally, so the connection's two background tasks are never
cancelled: they wait forever on queues nobody else holds, until the garbage collector destroys
them ("Task was destroyed but it is pending!"). `fixed_app` closes the connection in a finally.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect


class Connection:
    def __init__(self) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.requests: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sender = asyncio.create_task(self._send_loop(), name="conn.sender")
        self.dispatcher = asyncio.create_task(self._dispatch_loop(), name="conn.dispatcher")
        self.replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def _send_loop(self) -> None:
        while True:
            await self.replies.put(await self.outbox.get())

    async def _dispatch_loop(self) -> None:
        while True:
            await self.requests.put(await self.inbox.get())

    async def listen(self) -> None:
        while True:
            request = await self.requests.get()
            result = {"protocolVersion": 1, "agent": "example"}
            await self.outbox.put({"jsonrpc": "2.0", "id": request.get("id"), "result": result})

    async def close(self) -> None:
        for task in (self.sender, self.dispatcher):
            task.cancel()
        for task in (self.sender, self.dispatcher):
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def run_agent_bare(conn: Connection) -> None:
    await conn.listen()


async def run_agent_closing(conn: Connection) -> None:
    try:
        await conn.listen()
    finally:
        await asyncio.shield(conn.close())


async def pump_in(ws: WebSocket, conn: Connection) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await conn.inbox.put(json.loads(await ws.receive_text()))


async def pump_out(ws: WebSocket, conn: Connection) -> None:
    while True:
        await ws.send_text(json.dumps(await conn.replies.get()))


def create_app(fixed: bool) -> FastAPI:
    app = FastAPI()
    run_agent = run_agent_closing if fixed else run_agent_bare

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.websocket("/v1/agents/{agent}/session")
    async def session(ws: WebSocket, agent: str) -> None:
        await ws.accept()
        conn = Connection()
        tasks = [
            asyncio.create_task(run_agent(conn)),
            asyncio.create_task(pump_in(ws, conn)),
            asyncio.create_task(pump_out(ws, conn)),
        ]
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    return app


app = create_app(fixed=False)
fixed_app = create_app(fixed=True)
