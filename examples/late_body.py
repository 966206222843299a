"""An agent server that answers 200 at once and sends the body late: a status is not an answer.

    uvicorn examples.late_body:app --port 8000

The handler streams its answer: the headers (200) leave immediately, the body after
BODY_DELAY_S. A client that stops at the status counts a success that never arrived; with a
client timeout shorter than the delay, no answer arrives at all. `fixed_app` sends the body
right after the headers.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

BODY_DELAY_S = float(os.environ.get("LATE_BODY_DELAY_S", "30"))


def create_app(delay_s: float) -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/agents/{agent}/invocations")
    async def invoke(agent: str, request: Request) -> StreamingResponse:
        await request.body()

        async def answer() -> AsyncIterator[bytes]:
            yield b""  # the headers go out now
            await asyncio.sleep(delay_s)
            yield json.dumps({"agent": agent, "text": "done"}).encode()

        return StreamingResponse(answer(), media_type="application/json")

    return app


app = create_app(BODY_DELAY_S)
fixed_app = create_app(0.0)
