"""An idempotency cache in a sync FastAPI route: duplicates park anyio's worker threads.

    uvicorn examples.sync_cache:app --port 8000

Every sync (`def`) route runs on anyio's worker threads, behind one CapacityLimiter (40 tokens
by default; this app sets 8, as a small container would). The first request for a key starts
the model call as a loop task that needs a worker thread of its own; every request for the key
then waits for the answer on a threading.Event, in its worker thread. Once duplicates hold
every token, the model calls wait for a token that never comes: all workers parked in
`Event.wait`, nothing finishes. `fixed_app` runs the model call in the primary's own thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel

MODEL_SECONDS = 0.05
WAIT_S = 30.0
WORKER_THREADS = 8


class Prompt(BaseModel):
    prompt: str


def call_model(prompt: str) -> str:
    time.sleep(MODEL_SECONDS)
    return f"echo: {prompt}"


def create_app(fixed: bool) -> FastAPI:
    answers: dict[str, str] = {}
    events: dict[str, threading.Event] = {}
    lock = threading.Lock()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        yield

    app = FastAPI(lifespan=lifespan)

    async def run_model(key: str, prompt: str) -> None:
        answers[key] = await anyio.to_thread.run_sync(call_model, prompt)
        events[key].set()

    def start_model(key: str, prompt: str) -> None:
        async def start() -> None:
            # The loop's own task: it outlives this call.
            asyncio.get_running_loop().create_task(run_model(key, prompt))

        anyio.from_thread.run(start)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/agents/{agent}/invocations")
    def invoke(agent: str, body: Prompt, idempotency_key: str = Header("")) -> dict[str, str]:
        key = idempotency_key or body.prompt
        with lock:
            primary = key not in events
            if primary:
                events[key] = threading.Event()
        if primary and fixed:
            answers[key] = call_model(body.prompt)
            events[key].set()
        elif primary:
            start_model(key, body.prompt)
        if not events[key].wait(WAIT_S):
            raise HTTPException(504, "timed out waiting for the first request's answer")
        return {"agent": agent, "text": answers[key]}

    return app


app = create_app(fixed=False)
fixed_app = create_app(fixed=True)


def probed_app() -> FastAPI:
    """The hazard with `stampede.probe.install(app)`: the probe reads anyio's limiter."""
    import stampede.probe

    built = create_app(fixed=False)
    stampede.probe.install(built)
    return built
