"""A task broker that runs one task at a time: concurrent sends complete in a staircase.

    uvicorn examples.serial_broker:app --port 8000

Every request puts its task on one in-memory queue; a single worker takes them in order, so
eight concurrent sends finish at 0.2, 0.4, 0.6 ... s. Nothing is stuck: answers come out one
at a time. `fixed_app` runs each task as it arrives.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

TASK_SECONDS = 0.2


class Prompt(BaseModel):
    prompt: str


def create_app(serial: bool) -> FastAPI:
    app = FastAPI()
    state: dict[str, Any] = {}

    async def run_task(prompt: str) -> str:
        await asyncio.sleep(TASK_SECONDS)
        return f"echo: {prompt}"

    async def worker(queue: asyncio.Queue) -> None:
        while True:
            prompt, done = await queue.get()
            done.set_result(await run_task(prompt))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/agents/{agent}/invocations")
    async def invoke(agent: str, body: Prompt) -> dict[str, str]:
        if not serial:
            return {"agent": agent, "text": await run_task(body.prompt)}
        if "queue" not in state:
            state["queue"] = asyncio.Queue()
            state["worker"] = asyncio.create_task(worker(state["queue"]))
        done = asyncio.get_running_loop().create_future()
        await state["queue"].put((body.prompt, done))
        return {"agent": agent, "text": await done}

    return app


app = create_app(serial=True)
fixed_app = create_app(serial=False)
