"""A healthy agent server whose workers are merely busy: a slow blocking model, no waits.

    uvicorn examples.busy_model:app --port 8000

Every request calls the model with `asyncio.to_thread`; under a storm the executor is full
and requests queue, but every worker is working, so nothing is stuck: requests keep finishing.
"""

from __future__ import annotations

import asyncio
import time

from fastapi import FastAPI
from pydantic import BaseModel

MODEL_SECONDS = 0.05


class Prompt(BaseModel):
    prompt: str


def call_model(prompt: str) -> str:
    time.sleep(MODEL_SECONDS)
    return f"echo: {prompt}"


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/agents/{agent}/invocations")
    async def invoke(agent: str, body: Prompt) -> dict[str, str]:
        return {"agent": agent, "text": await asyncio.to_thread(call_model, body.prompt)}

    return app


app = create_app()
