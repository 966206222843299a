"""A probed agent server that stalls without wedging: its upstream model stops answering.

    uvicorn --factory examples.slow_upstream:probed_app --port 8000

From STALL_AFTER_S after its first request, every model call awaits an upstream that takes
UPSTREAM_S to answer (an asyncio sleep: no thread, no executor, nothing parked). Requests pile
up in flight and no success comes for a while, then the slow answers arrive. That is a
stall, not a wedge. `app` is the same server without the probe; `healthy_app` and
`healthy_probed_app` never stall.
"""

from __future__ import annotations

import asyncio
import time

import stampede.probe
from fastapi import FastAPI
from pydantic import BaseModel

MODEL_SECONDS = 0.05
STALL_AFTER_S = 2.0
UPSTREAM_S = 4.0


class Prompt(BaseModel):
    prompt: str


def create_app(stalls: bool) -> FastAPI:
    app = FastAPI()
    first: list[float] = []  # when the first request came

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/agents/{agent}/invocations")
    async def invoke(agent: str, body: Prompt) -> dict[str, str]:
        if not first:
            first.append(time.monotonic())
        slow = stalls and time.monotonic() - first[0] > STALL_AFTER_S
        await asyncio.sleep(UPSTREAM_S if slow else MODEL_SECONDS)
        return {"agent": agent, "text": f"echo: {body.prompt}"}

    return app


def _probed(app: FastAPI) -> FastAPI:
    stampede.probe.install(app)
    return app


app = create_app(stalls=True)
healthy_app = create_app(stalls=False)


def probed_app() -> FastAPI:
    return _probed(create_app(stalls=True))


def healthy_probed_app() -> FastAPI:
    return _probed(create_app(stalls=False))
