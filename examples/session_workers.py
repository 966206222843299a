"""A background worker per session that nobody stops: a thread per request, parked for good.

    uvicorn examples.session_workers:app --port 8000
    uvicorn examples.session_workers:fixed_app --port 8000

Every invocation opens a "session" with a heartbeat thread (it would refresh the session's
lease with the model provider) that runs until the session's stop Event is set. `close()`
sets it, and the handler never calls it: each request leaves one thread waiting on an Event
nobody sets. The server keeps answering, quickly and correctly, while its thread count grows
with every request until the pids cap ends it. `fixed_app` closes the session in `finally`,
so each heartbeat thread ends with its request.
"""

from __future__ import annotations

import asyncio
import threading

from fastapi import FastAPI
from pydantic import BaseModel

MODEL_SECONDS = 0.05
HEARTBEAT_S = 30.0


class Prompt(BaseModel):
    prompt: str


class Session:
    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.stop = threading.Event()
        self.beats = 0
        self.worker = threading.Thread(target=self._heartbeat, name=f"heartbeat-{agent}")
        self.worker.daemon = True
        self.worker.start()

    def _heartbeat(self) -> None:
        while not self.stop.wait(HEARTBEAT_S):
            self.beats += 1

    def close(self) -> None:
        self.stop.set()


def create_app(close_sessions: bool) -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/agents/{agent}/invocations")
    async def invoke(agent: str, body: Prompt) -> dict[str, str]:
        session = Session(agent)
        try:
            await asyncio.sleep(MODEL_SECONDS)  # the model call
            return {"agent": agent, "text": f"echo: {body.prompt}"}
        finally:
            if close_sessions:
                session.close()

    return app


app = create_app(close_sessions=False)
fixed_app = create_app(close_sessions=True)
