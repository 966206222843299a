"""An agent API that is not shaped like Stampede's, for `--workload examples/custom_api.toml`.

    uvicorn examples.custom_api:app --port 8000

`PUT /agents/{agent}/run` with `{"input": {"text": ...}, "stream": false}` and an
`X-Request-Id` header; one run at a time per agent: a second request id while one runs gets
423 Locked (the workload file maps it to "conflict"), the same id waits for the same answer.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel

RUN_SECONDS = 0.2


class Input(BaseModel):
    text: str


class Run(BaseModel):
    input: Input
    stream: bool = False


app = FastAPI()
running: dict[str, tuple[str | None, asyncio.Future[dict[str, Any]]]] = {}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.put("/agents/{agent}/run")
async def run(
    agent: str, body: Run, x_request_id: Annotated[str | None, Header()] = None
) -> JSONResponse:
    if agent in running:
        request_id, answer = running[agent]
        if request_id != x_request_id or x_request_id is None:
            return JSONResponse({"error": "locked"}, status_code=423)
        return JSONResponse(await asyncio.shield(answer))
    answer = asyncio.get_running_loop().create_future()
    running[agent] = (x_request_id, answer)
    try:
        await asyncio.sleep(RUN_SECONDS)
        answer.set_result({"agent": agent, "output": body.input.text.upper()})
    finally:
        del running[agent]
    return JSONResponse(answer.result())
