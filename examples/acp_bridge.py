"""A WebSocket bridge to a real agent-client-protocol agent, as seed 003's reporter built it.

    uvicorn examples.acp_bridge:app --port 8000      # with agent-client-protocol installed

`WS /v1/agents/{agent}/session` carries ACP's JSON-RPC, one message per frame. Per socket,
`acp.run_agent` runs in an agent task over an in-process stream pair, a peer task feeds the
socket's frames to the agent and an outbound task relays the agent's lines back. When the peer
leaves (a health checker: open, initialize, close) the bridge cancels the agent task. Before
agent-client-protocol 0.11.0, `run_agent` never closes its connection then, so the
connection's sender and dispatcher tasks stay pending until the garbage collector destroys
them ("Task was destroyed but it is pending!"); from 0.11.0 it closes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import acp
from acp import InitializeResponse, NewSessionResponse, PromptResponse, run_agent
from fastapi import FastAPI, WebSocket

LINE_LIMIT = 1 << 20


class EchoAgent:
    """Answers initialize, session/new and session/prompt (signatures vary by release)."""

    def on_connect(self, conn: Any) -> None:
        self.conn = conn

    async def initialize(self, protocol_version: int, **kwargs: Any) -> InitializeResponse:
        return InitializeResponse(protocol_version=acp.PROTOCOL_VERSION)

    async def new_session(self, cwd: str, **kwargs: Any) -> NewSessionResponse:
        return NewSessionResponse(session_id=uuid.uuid4().hex)

    async def prompt(self, prompt: list[Any], session_id: str, **kwargs: Any) -> PromptResponse:
        return PromptResponse(stop_reason="end_turn")

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        return None


class _Feed(asyncio.Transport):
    """A write-only transport whose bytes go straight into a StreamReader."""

    def __init__(self, sink: asyncio.StreamReader) -> None:
        super().__init__()
        self.sink = sink
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self.closing:
            self.sink.feed_data(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            self.sink.feed_eof()

    def get_write_buffer_size(self) -> int:
        return 0


app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.websocket("/v1/agents/{agent}/session")
async def session(ws: WebSocket, agent: str) -> None:
    await ws.accept()
    loop = asyncio.get_running_loop()
    to_agent = asyncio.StreamReader(limit=LINE_LIMIT)
    from_agent = asyncio.StreamReader(limit=LINE_LIMIT)
    protocol = asyncio.StreamReaderProtocol(asyncio.StreamReader(limit=LINE_LIMIT))
    writer = asyncio.StreamWriter(_Feed(from_agent), protocol, None, loop)

    async def peer() -> None:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = (message.get("text") or "").replace("\n", " ")
            to_agent.feed_data(text.encode() + b"\n")

    async def outbound() -> None:
        while line := await from_agent.readline():
            await ws.send_text(line.decode().rstrip("\n"))

    agent_task = asyncio.create_task(run_agent(EchoAgent(), writer, to_agent))
    peer_task = asyncio.create_task(peer())
    out_task = asyncio.create_task(outbound())
    await asyncio.wait({agent_task, peer_task}, return_when=asyncio.FIRST_COMPLETED)
    for task in (agent_task, peer_task, out_task):
        task.cancel()
    with contextlib.suppress(Exception):
        await asyncio.wait({agent_task, peer_task, out_task}, timeout=5)
