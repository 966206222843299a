"""One agent object shared by every request, which refuses to run twice at once (HTTP 500).

    uvicorn examples.shared_agent:app --port 8000

Like a framework `Agent` kept in a module global: a second call while one is running raises
`ConcurrencyException`,
and the app answers 500 naming it. Under overlapping requests most of them fail;
nothing is stuck, nothing leaks, the loop logs no error. `fixed_app` builds an agent per
request.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

MODEL_SECONDS = 0.2


class ConcurrencyException(RuntimeError):
    pass


class Agent:
    def __init__(self) -> None:
        self.running = False

    async def __call__(self, prompt: str) -> str:
        if self.running:
            raise ConcurrencyException("Agent is already processing a request")
        self.running = True
        try:
            await asyncio.sleep(MODEL_SECONDS)
            return f"echo: {prompt}"
        finally:
            self.running = False


class Prompt(BaseModel):
    prompt: str


def create_app(shared: bool) -> FastAPI:
    app = FastAPI()
    agent = Agent()

    @app.exception_handler(ConcurrencyException)
    async def concurrency(_: Request, exc: ConcurrencyException) -> JSONResponse:
        return JSONResponse({"detail": f"ConcurrencyException: {exc}"}, status_code=500)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/agents/{name}/invocations")
    async def invoke(name: str, body: Prompt) -> dict[str, str]:
        mine = agent if shared else Agent()
        return {"agent": name, "text": await mine(body.prompt)}

    return app


app = create_app(shared=True)
fixed_app = create_app(shared=False)
