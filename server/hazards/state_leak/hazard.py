"""State-leak hazard (mcp python-sdk #1283): `POST /v1/sessions`, `DELETE /v1/sessions/{id}`.

Concurrency model: opening a session starts its server task (the SDK runs one per session,
reading the session's stream until it closes) and allocates its buffer (the SDK's memory
streams and transport state; 32 KiB here so that a leak shows in RSS), registered in a dict
under the id the answer's `Mcp-Session-Id` header carries. Clients often leave without
DELETE (a CLI that exits, a crashed agent, a health checker).
- `kept` (the bug): only DELETE removes a session, so every quiet client's task and buffer
  stay forever: tasks and RSS grow with every session opened.
- `reaped` (the fix): DELETE removes it, and a reaper removes sessions idle longer than
  `IDLE_TIMEOUT_S` (the SDK's `session_idle_timeout`), ending their tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field

from fastapi import Response
from stampede.server.hazards.base import SpecHazard, hazard_status
from stampede.server.hazards.state_leak import STATE_LEAK
from stampede.server.settings import ServerSettings

BUFFER_BYTES = 32 * 1024
IDLE_TIMEOUT_S = 0.5
REAP_EVERY_S = 0.25
SESSION_HEADER = "Mcp-Session-Id"


@dataclass
class Session:
    task: asyncio.Task[None]
    closed: asyncio.Event
    buffer: bytearray = field(default_factory=lambda: bytearray(BUFFER_BYTES))
    last_seen: float = field(default_factory=time.monotonic)


async def serve_session(closed: asyncio.Event) -> None:
    """The session's server task: waits for its stream to close."""
    await closed.wait()


class StateLeakHazard(SpecHazard):
    spec = STATE_LEAK

    def __init__(self, settings: ServerSettings) -> None:
        super().__init__(settings)
        self.sessions: dict[str, Session] = {}
        self._reaper: asyncio.Task[None] | None = None
        self.router.add_api_route("/v1/sessions", self.open_session, methods=["POST"])
        self.router.add_api_route(
            "/v1/sessions/{session_id}", self.close_session, methods=["DELETE"], status_code=204
        )

    async def open_session(self, response: Response) -> dict[str, object]:
        if self.impl == "reaped" and self._reaper is None:
            # Started with the first session: the router has no lifespan of its own.
            self._reaper = asyncio.create_task(self._reap(), name="state_leak.reaper")
        session_id = uuid.uuid4().hex
        closed = asyncio.Event()
        task = asyncio.create_task(serve_session(closed), name="state_leak.session")
        self.sessions[session_id] = Session(task, closed)
        self.counts["opened"] += 1
        response.headers[SESSION_HEADER] = session_id
        return {"jsonrpc": "2.0", "id": 1, "result": {"sessionId": session_id}}

    async def close_session(self, session_id: str) -> Response:
        session = self.sessions.pop(session_id, None)
        if session is not None:
            session.closed.set()
            self.counts["deleted"] += 1
        return Response(status_code=204)

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(REAP_EVERY_S)
            cutoff = time.monotonic() - IDLE_TIMEOUT_S
            for session_id in [k for k, s in self.sessions.items() if s.last_seen < cutoff]:
                self.sessions.pop(session_id).closed.set()
                self.counts["reaped"] += 1

    async def aclose(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper

    def status(self) -> dict[str, object]:
        return hazard_status(self, live_sessions=len(self.sessions), idle_timeout_s=IDLE_TIMEOUT_S)
