"""A JSON-RPC client for the WebSocket session endpoint, shared by the session tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.serverproc import ServerProcess

IO_TIMEOUT_S = 10.0
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1}}


def ws_url(server: ServerProcess, agent_id: str = "agent-1") -> str:
    return server.url.replace("http://", "ws://") + f"/v1/agents/{agent_id}/session"


async def call(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps(message))
    return json.loads(await ws.recv())


async def health_checks(server: ServerProcess, count: int) -> list[dict[str, Any]]:
    """The seed's health-checker: open, initialize, close; returns each initialize reply."""
    replies = []
    async with asyncio.timeout(60):
        for _ in range(count):
            async with connect(ws_url(server), open_timeout=IO_TIMEOUT_S) as ws:
                replies.append(await call(ws, INITIALIZE))
    return replies
