"""The baseline `stampede bench server` measures against: a bare FastAPI agent endpoint.

It does the work the built-in server's invocation does with a zero-latency model and nothing
else: validate the same request (JSON body, agent id, optional Idempotency-Key), make two
`asyncio.to_thread` model calls on the loop's default executor, answer a JSON body of the same
shape. `GET /hello` is the smallest endpoint there is, for the probe's overhead.

`STAMPEDE_BENCH_PROBE=1` installs `stampede.probe` on it (the one line a user would add), so
the bench measures what the probe costs a server that is not Stampede's. Run it with
`uvicorn --factory stampede.loadtest.commands.bench.bare_app:create_app`.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Annotated, Any

import stampede.probe
from fastapi import FastAPI, Header, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

PROBE_ENV = "STAMPEDE_BENCH_PROBE"
AGENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


class InvokeRequest(BaseModel):
    prompt: str = Field(min_length=1, max_length=10_000)


def model_call(prompt: str, turn: int) -> dict[str, Any]:
    """A zero-latency blocking model: returns at once."""
    return {"text": f"Answer to {prompt[:64]!r} after {turn} model call(s).", "turn": turn}


def create_app() -> FastAPI:
    app = FastAPI(title="bare agent endpoint")

    @app.post("/v1/agents/{agent_id}/invocations")
    async def invoke(
        body: InvokeRequest,
        agent_id: Annotated[str, Path(pattern=AGENT_ID)],
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> JSONResponse:
        started = time.time()
        await asyncio.to_thread(model_call, body.prompt, 1)
        answer = await asyncio.to_thread(model_call, body.prompt, 2)
        return JSONResponse(
            {
                "agent_id": agent_id,
                "idempotency_key": idempotency_key,
                "role": "primary",
                "text": answer["text"],
                "model_calls": 2,
                "started_at": started,
                "finished_at": time.time(),
            }
        )

    @app.get("/hello")
    async def hello() -> JSONResponse:
        return JSONResponse({"hello": "world"})

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    if os.environ.get(PROBE_ENV) == "1":
        stampede.probe.install(app)
    return app
