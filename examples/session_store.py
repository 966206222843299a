"""A streamable-HTTP-style server that keeps one server task and buffer per session.

    uvicorn examples.session_store:app --port 8000        # sessions live until DELETE
    uvicorn examples.session_store:fixed_app --port 8000  # and are reaped when idle

`POST /v1/sessions` opens a session (its id in the `Mcp-Session-Id` header): a task that
serves it until it closes, and a 32 KiB buffer. `DELETE /v1/sessions/{id}` closes it. Clients
that leave without DELETE (a CLI that exits, a crashed agent) leave their sessions behind: in
`app` they stay in the dict forever, as in mcp python-sdk #1283 before `session_idle_timeout`;
`fixed_app` reaps sessions idle longer than 0.5 s from a task its lifespan starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import FastAPI, Response

IDLE_TIMEOUT_S = 0.5
BUFFER_BYTES = 32 * 1024


class Session:
    def __init__(self) -> None:
        self.closed = asyncio.Event()
        self.buffer = bytearray(BUFFER_BYTES)
        self.last_seen = time.monotonic()
        self.task = asyncio.create_task(self.closed.wait())


def create_app(*, fixed: bool) -> FastAPI:
    sessions: dict[str, Session] = {}

    async def reap() -> None:
        while True:
            await asyncio.sleep(IDLE_TIMEOUT_S / 2)
            cutoff = time.monotonic() - IDLE_TIMEOUT_S
            for key in [k for k, s in sessions.items() if s.last_seen < cutoff]:
                sessions.pop(key).closed.set()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        reaper = asyncio.create_task(reap()) if fixed else None
        yield
        if reaper is not None:
            reaper.cancel()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, object]:
        return {"status": "ok"}

    @app.post("/v1/sessions")
    async def open_session(response: Response) -> dict[str, object]:
        key = uuid.uuid4().hex
        sessions[key] = Session()
        response.headers["Mcp-Session-Id"] = key
        return {"jsonrpc": "2.0", "id": 1, "result": {"sessionId": key}}

    @app.delete("/v1/sessions/{key}", status_code=204)
    async def close_session(key: str) -> Response:
        session = sessions.pop(key, None)
        if session is not None:
            session.closed.set()
        return Response(status_code=204)

    return app


app = create_app(fixed=False)
fixed_app = create_app(fixed=True)
