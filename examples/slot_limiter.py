"""An SSE endpoint behind a max-parallel-requests counter, as a proxy guards a model.

    uvicorn examples.slot_limiter:app --port 8000        # the slot is given back on return/error
    uvicorn examples.slot_limiter:fixed_app --port 8000  # the slot is given back in `finally`

`GET /v1/agents/{agent}/limited?events=N&interval_ms=M` streams N events; at most 8 streams run
at once, the rest get 429. `app` gives its slot back after the last event and in
`except Exception`, which a client that hangs up never reaches: Starlette cancels the stream
(CancelledError) or it is closed (GeneratorExit), both BaseException. Eight dropped streams
later every request is a 429 with nothing running (litellm #27955). `fixed_app` releases in
`finally`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse

MAX_PARALLEL = 8


def create_app(release_in_finally: bool) -> FastAPI:
    app = FastAPI()
    slots = {"held": 0}

    async def events(agent: str, n: int, interval_s: float) -> AsyncIterator[bytes]:
        for index in range(n):
            yield f"event: message\ndata: {json.dumps({'agent': agent, 'i': index})}\n\n".encode()
            await asyncio.sleep(interval_s)
        yield b'event: result\ndata: {"done":true}\n\n'

    async def on_return(agent: str, n: int, interval_s: float) -> AsyncIterator[bytes]:
        try:
            async for chunk in events(agent, n, interval_s):
                yield chunk
        except Exception:
            slots["held"] -= 1
            raise
        slots["held"] -= 1

    async def in_finally(agent: str, n: int, interval_s: float) -> AsyncIterator[bytes]:
        try:
            async for chunk in events(agent, n, interval_s):
                yield chunk
        finally:
            slots["held"] -= 1

    @app.get("/v1/agents/{agent}/limited", response_model=None)
    async def limited(
        agent: str, events: int = 10, interval_ms: float = 50
    ) -> StreamingResponse | JSONResponse:
        if slots["held"] >= MAX_PARALLEL:
            return JSONResponse({"detail": "max parallel requests reached"}, status_code=429)
        slots["held"] += 1
        body = in_finally if release_in_finally else on_return
        return StreamingResponse(
            body(agent, events, interval_ms / 1000), media_type="text/event-stream"
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


app = create_app(release_in_finally=False)
fixed_app = create_app(release_in_finally=True)
