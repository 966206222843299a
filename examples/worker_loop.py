"""Async handlers run on the app's own worker loop, with its own small default executor.

    uvicorn examples.worker_loop:app --port 8000

Like frameworks that keep a second event loop in a thread for user code: each request hands
its coroutine to that loop. There, an idempotency cache waits for the first request's answer
with `run_in_executor(None, event.wait)`, and the model call, after an async context fetch,
runs in the same executor (4 workers). Duplicates fill the worker loop's executor, the model
calls queue behind them: wedged, on a loop and an executor the server's main loop never
sees. `fixed_app` waits on an asyncio future instead. `probed_app` and `probed_fixed_app`
install stampede.probe.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel

MODEL_SECONDS = 0.05
CONTEXT_SECONDS = 0.05
WAIT_S = 30.0
EXECUTOR_WORKERS = 4


class Prompt(BaseModel):
    prompt: str


def call_model(prompt: str) -> str:
    time.sleep(MODEL_SECONDS)
    return f"echo: {prompt}"


class WorkerLoop:
    """A second event loop in a daemon thread, with a default executor of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_default_executor(
            ThreadPoolExecutor(EXECUTOR_WORKERS, thread_name_prefix="asyncio")
        )
        threading.Thread(target=self.loop.run_forever, name="worker-loop", daemon=True).start()

    async def run(self, coro: Any) -> Any:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))


def create_app(fixed: bool) -> FastAPI:
    app = FastAPI()
    worker = WorkerLoop()
    answers: dict[str, str] = {}
    events: dict[str, threading.Event] = {}
    futures: dict[str, asyncio.Future] = {}

    async def handle(key: str, prompt: str) -> str:
        loop = asyncio.get_running_loop()
        if fixed:
            if key not in futures:
                futures[key] = loop.create_future()
                futures[key].set_result(await loop.run_in_executor(None, call_model, prompt))
            return await asyncio.wait_for(asyncio.shield(futures[key]), WAIT_S)
        if key in events:
            if not await loop.run_in_executor(None, events[key].wait, WAIT_S):
                raise TimeoutError
            return answers[key]
        events[key] = threading.Event()
        await asyncio.sleep(CONTEXT_SECONDS)  # fetch the conversation first (async I/O)
        answers[key] = await loop.run_in_executor(None, call_model, prompt)
        events[key].set()
        return answers[key]

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/agents/{agent}/invocations")
    async def invoke(agent: str, body: Prompt, idempotency_key: str = Header("")) -> dict:
        try:
            text = await worker.run(handle(idempotency_key or body.prompt, body.prompt))
        except TimeoutError:
            raise HTTPException(504, "timed out waiting for the first request's answer") from None
        return {"agent": agent, "text": text}

    app.state.worker_loop = worker.loop
    return app


app = create_app(fixed=False)
fixed_app = create_app(fixed=True)


def _probed(app: FastAPI) -> FastAPI:
    import stampede.probe

    stampede.probe.install(app)
    return app


def probed_app() -> FastAPI:
    """The hazard with the probe: it sees the worker loop's executor too."""
    return _probed(create_app(fixed=False))


def probed_fixed_app() -> FastAPI:
    return _probed(create_app(fixed=True))
