"""An in-house idempotency cache in front of a slow blocking model.

`POST /v1/agents/{agent}/invocations` with `{"prompt": ...}` and an `Idempotency-Key` header.
The first request of a key is the primary: it calls the model twice, each time with
`asyncio.to_thread` (as SDKs call a blocking model client). A duplicate of an in-flight key
waits for the primary's answer and returns it; another key on a busy agent gets 409.

    uvicorn examples.idempotency_cache:app --port 8000          # duplicates park threads
    uvicorn examples.idempotency_cache:fixed_app --port 8000    # duplicates await a future

`app` waits with `await asyncio.to_thread(event.wait)`: each waiting duplicate holds one
default-executor worker, so a handful of duplicates take every worker and the primary's next
model call never gets one. `fixed_app` awaits an asyncio future: no thread is held.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel

MODEL_SECONDS = 0.5
MODEL_CALLS = 2


class Prompt(BaseModel):
    prompt: str


@dataclass
class InFlight:
    key: str | None
    done: threading.Event = field(default_factory=threading.Event)
    future: asyncio.Future[dict[str, Any]] | None = None
    answer: dict[str, Any] | None = None


def call_model(prompt: str) -> str:
    time.sleep(MODEL_SECONDS)  # a blocking HTTP client to the model provider
    return f"echo: {prompt}"


def create_app(wait_with_future: bool) -> FastAPI:
    app = FastAPI()
    busy: dict[str, InFlight] = {}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/agents/{agent}/invocations")
    async def invoke(
        agent: str,
        body: Prompt,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        current = busy.get(agent)
        if current is not None:
            if idempotency_key is None or current.key != idempotency_key:
                return JSONResponse({"error": "conflict"}, status_code=409)
            if wait_with_future:
                assert current.future is not None
                answer = await asyncio.shield(current.future)
            else:
                await asyncio.to_thread(current.done.wait)
                answer = current.answer
            return JSONResponse({**(answer or {}), "role": "duplicate"})
        mine = InFlight(idempotency_key, future=asyncio.get_running_loop().create_future())
        busy[agent] = mine
        try:
            text = body.prompt
            for _ in range(MODEL_CALLS):
                text = await asyncio.to_thread(call_model, text)
            mine.answer = {"agent": agent, "text": text}
        finally:
            del busy[agent]
            mine.done.set()
            if mine.future is not None and not mine.future.done():
                mine.future.set_result(mine.answer or {"error": "primary failed"})
        return JSONResponse({**mine.answer, "role": "primary"})

    return app


app = create_app(wait_with_future=False)
fixed_app = create_app(wait_with_future=True)
