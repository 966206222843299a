"""Cancelled-session hazard (seed 003): `WS /v1/agents/{agent_id}/session`.

Concurrency model: per WebSocket, the bridge runs the agent connection (server/hazards/session/
connection.py) in an agent task and a peer task that pumps frames from the socket into the
connection's inbound queue, and races them with `asyncio.wait(FIRST_COMPLETED)`. When the peer
goes away the bridge cancels the agent task — the health-checker pattern: open, `initialize`,
close. What the agent task does on cancellation is the implementation under test (runners.py):
- `bare`: `await conn.listen()` with no try/finally (ACP's run_agent): the connection's sender
  and dispatcher tasks are orphaned, and gc later destroys them while pending.
- `closing`: `try: await conn.listen() finally: await asyncio.shield(conn.close())`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from typing import Annotated

from fastapi import Path, WebSocket
from stampede.server import __version__
from stampede.server.hazards.base import AGENT_ID, SpecHazard, hazard_status
from stampede.server.hazards.session import SESSION
from stampede.server.hazards.session.connection import Connection, Frame, Notify, RpcError
from stampede.server.hazards.session.frames import (
    INVALID_PARAMS,
    LIMIT_EXCEEDED,
    METHOD_NOT_FOUND,
    JsonObject,
    TooLarge,
)
from stampede.server.hazards.session.runners import RUNNERS
from stampede.server.settings import ServerSettings

log = logging.getLogger("stampede.session")

PROTOCOL_VERSION = 1
PROMPT_CHUNKS = 3
PROMPT_CHUNK_INTERVAL_S = 0.01
# Frames read off the socket and not yet parsed; each is at most --max-body-bytes.
INBOUND_LIMIT = 16
# The agent task gets this long to finish after being cancelled (closing flushes replies).
BRIDGE_TIMEOUT_S = 5.0


class StubAgent:
    """initialize, session/new and a session/prompt that streams session/update chunks."""

    def __init__(self, agent_id: str, max_sessions: int) -> None:
        self.agent_id = agent_id
        self.max_sessions = max_sessions
        self.sessions: set[str] = set()

    async def handle(self, method: str, params: JsonObject, notify: Notify) -> JsonObject:
        if method == "initialize":
            return {
                "protocolVersion": PROTOCOL_VERSION,
                "agentCapabilities": {"loadSession": False},
                "agentInfo": {"name": f"stampede/{self.agent_id}", "version": __version__},
            }
        if method == "session/new":
            if len(self.sessions) >= self.max_sessions:
                raise RpcError(
                    LIMIT_EXCEEDED,
                    f"this connection already has {self.max_sessions} sessions, the server's "
                    "limit (--max-sessions-per-connection)",
                )
            session_id = uuid.uuid4().hex
            self.sessions.add(session_id)
            return {"sessionId": session_id}
        if method == "session/prompt":
            return await self._prompt(params, notify)
        raise RpcError(METHOD_NOT_FOUND, f"unknown method {method!r}")

    async def _prompt(self, params: JsonObject, notify: Notify) -> JsonObject:
        session_id = params.get("sessionId")
        if session_id not in self.sessions:
            raise RpcError(INVALID_PARAMS, f"unknown sessionId {session_id!r}")
        prompt = params.get("prompt")
        if not isinstance(prompt, list) or not prompt:
            raise RpcError(INVALID_PARAMS, "prompt must be a non-empty list of content blocks")
        for index in range(PROMPT_CHUNKS):
            await asyncio.sleep(PROMPT_CHUNK_INTERVAL_S)
            text = f"chunk {index + 1} of {PROMPT_CHUNKS}"
            update = {
                "sessionUpdate": "agent_message_chunk",
                "content": {"type": "text", "text": text},
            }
            await notify("session/update", {"sessionId": session_id, "update": update})
        return {"stopReason": "end_turn"}


async def _pump(websocket: WebSocket, inbound: asyncio.Queue[Frame | None], max_bytes: int) -> None:
    """Peer frames into the connection; returns when the peer goes away (no EOF sentinel).

    A full queue stops the reads here, so a fast peer meets TCP backpressure; a frame over the
    cap is queued as its size alone, for the connection to answer with an error.
    """
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        frame: Frame = message.get("text") or message.get("bytes") or ""
        size = len(frame.encode()) if isinstance(frame, str) else len(frame)
        if size > max_bytes:
            frame = TooLarge(size)
        await inbound.put(frame)


class SessionHazard(SpecHazard):
    spec = SESSION

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        super().__init__(settings)
        if self.impl not in RUNNERS:
            raise ValueError(f"no session runner for {self.impl!r}; known: {', '.join(RUNNERS)}")
        self.runner = RUNNERS[self.impl]()
        # Connection tasks whose session ended; weak, so gc may still destroy them.
        self._ended: weakref.WeakSet[asyncio.Task[None]] = weakref.WeakSet()
        self.router.add_api_websocket_route("/v1/agents/{agent_id}/session", self.session)

    async def session(
        self, websocket: WebSocket, agent_id: Annotated[str, Path(pattern=AGENT_ID)]
    ) -> None:
        await websocket.accept()
        self.counts["opened"] += 1
        max_bytes = self.settings.max_body_bytes
        inbound: asyncio.Queue[Frame | None] = asyncio.Queue(maxsize=INBOUND_LIMIT)
        agent = StubAgent(agent_id, self.settings.max_sessions_per_connection)
        conn = Connection(agent, inbound.get, websocket.send_text, max_bytes)
        agent_task = asyncio.create_task(self.runner.run(conn), name="session.agent")
        peer_task = asyncio.create_task(_pump(websocket, inbound, max_bytes), name="session.peer")
        done: set[asyncio.Task[None]] = set()
        try:
            done, _ = await asyncio.wait(
                {agent_task, peer_task}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            await self._settle(agent_task, peer_task)
            self._ended.update(conn.tasks)
        if peer_task not in done:
            # The agent stopped first (it failed): tell the peer instead of going silent.
            with contextlib.suppress(Exception):
                await websocket.close(code=1011)

    async def _settle(self, agent_task: asyncio.Task[None], peer_task: asyncio.Task[None]) -> None:
        if not agent_task.done():
            self.counts["agent_cancelled"] += 1
        for task in (agent_task, peer_task):
            task.cancel()
        await asyncio.wait({agent_task, peer_task}, timeout=BRIDGE_TIMEOUT_S)
        for task in (agent_task, peer_task):
            # Retrieved here so a failure is logged once, not reported later as "never retrieved".
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.warning("%s failed: %r", task.get_name(), task.exception())
        self.counts["closed"] += 1

    def orphaned_tasks(self) -> int:
        """Connection tasks still pending after their session ended: the leak, until gc."""
        return sum(not task.done() for task in list(self._ended))

    def status(self) -> dict[str, object]:
        return hazard_status(self, orphaned_tasks=self.orphaned_tasks())
