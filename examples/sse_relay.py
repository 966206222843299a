"""An SSE endpoint that relays an agent's event stream, like an SDK's `query()` generator.

    uvicorn examples.sse_relay:app --port 8000          # the generator owns an anyio task group
    uvicorn examples.sse_relay:fixed_app --port 8000    # the generator owns a plain task

`GET /v1/agents/{agent}/stream` streams ten events, 50 ms apart. The endpoint pulls the first
event itself, so that a failing agent still gets a proper error status, then hands the rest to
a StreamingResponse, which relays it with a plain `async for` from a task of its own. `app`'s
generator entered an anyio task group in the endpoint's task, so its close, in the response's
task (a client that leaves early, or the stream's end), raises "Attempted to exit cancel scope
in a different task". `fixed_app`'s generator runs its producer as a plain asyncio task and
cancels it on close, from whichever task closes it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

EVENTS = 10
INTERVAL_S = 0.05


async def produce(agent: str, send: MemoryObjectSendStream[dict[str, object]]) -> None:
    async with send:
        for index in range(EVENTS):
            await anyio.sleep(INTERVAL_S)
            await send.send({"agent": agent, "index": index, "text": f"token {index}"})


async def events_task_group(agent: str) -> AsyncIterator[dict[str, object]]:
    send, receive = anyio.create_memory_object_stream[dict[str, object]](16)
    async with anyio.create_task_group() as group, receive:
        group.start_soon(produce, agent, send)
        async for event in receive:
            yield event


async def events_plain_task(agent: str) -> AsyncIterator[dict[str, object]]:
    send, receive = anyio.create_memory_object_stream[dict[str, object]](16)
    producer = asyncio.create_task(produce(agent, send))
    try:
        async with receive:
            async for event in receive:
                yield event
    finally:
        producer.cancel()


def create_app(fixed: bool) -> FastAPI:
    app = FastAPI()
    events = events_plain_task if fixed else events_task_group

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/agents/{agent}/stream")
    async def stream(agent: str) -> StreamingResponse:
        agent_events = events(agent)
        first = await anext(agent_events)  # an agent that fails now fails with a status

        async def sse() -> AsyncIterator[str]:
            yield f"data: {json.dumps(first)}\n\n"
            async for event in agent_events:
                yield f"data: {json.dumps(event)}\n\n"
            yield "event: result\ndata: {}\n\n"

        return StreamingResponse(sse(), media_type="text/event-stream")

    return app


app = create_app(fixed=False)
fixed_app = create_app(fixed=True)
