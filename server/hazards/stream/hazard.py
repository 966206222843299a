"""Streaming teardown hazard (seeds 002 and 004): `GET /v1/agents/{agent_id}/stream` (SSE).

Concurrency model: each request runs in uvicorn's request task. The endpoint relays a
`query()` async generator (server/hazards/stream/query.py) with a plain `async for`, no
`aclosing`, as the seed's users do. A consumer that stops early — the client disconnects
after k events, or `?break_after=k` makes the server-side loop `break` — leaves that generator
suspended at its `yield`; when the last reference goes, the event loop's async-generator
finalizer closes it in a new task, so the Query's close() runs in a task other than the one
that ran start(). With `anyio_taskgroup` that is the cancel-scope RuntimeError, reported to the
loop's exception handler ("Task exception was never retrieved").

`?teardown=response` hands the generator to Starlette's own StreamingResponse instead (first
event pulled in the endpoint, as servers do to fail with a proper status): on disconnect
Starlette cancels its streaming task, the generator closes there, and the same RuntimeError
surfaces as an ASGI exception — the other place the detector must count it.

Every stream is bounded by `--stream-max-duration-s`: the requested events x interval is cut
to fit it (`X-Stream-Events` says how many are coming), and a stream still open a grace second
after it (a client too slow to read) is ended, closing its query in this task, the fix's way,
so a deadline never counts as the hazard.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Literal

from fastapi import Path, Query
from stampede.server.api_models import SSE_EVENT_SCHEMA, error_responses, text_response
from stampede.server.hazards.base import AGENT_ID, SpecHazard, hazard_status
from stampede.server.hazards.stream import STREAM
from stampede.server.hazards.stream.query import Message, Script, query
from stampede.server.settings import ServerSettings
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# A stream still open this long after --stream-max-duration-s is ended.
DEADLINE_GRACE_S = 1.0
STREAM_RESPONSES = {
    200: text_response(
        "text/event-stream",
        "Server-sent events: `message` events, then one `result`",
        SSE_EVENT_SCHEMA,
        **{"X-Stream-Events": "events this stream sends, after fitting --stream-max-duration-s"},
    ),
    **error_responses(422, 503),
}


def fit_to_duration(events: int, interval_s: float, max_s: float) -> tuple[int, float]:
    """Events and interval cut so that events x interval <= max_s (at least one event)."""
    interval_s = min(interval_s, max_s)
    if interval_s > 0:
        events = min(events, max(1, math.floor(max_s / interval_s)))
    return events, interval_s


def sse_frame(message: Message) -> bytes:
    event = "result" if message["type"] == "result" else "message"
    data = json.dumps(message, separators=(",", ":"))
    return f"id: {message['index']}\nevent: {event}\ndata: {data}\n\n".encode()


async def relay(
    messages: AsyncIterator[Message], break_after: int | None, counts: Counter[str]
) -> AsyncIterator[bytes]:
    """The seed's consumer: a plain `async for` over query(), no aclosing."""
    sent = 0
    async for message in messages:
        yield sse_frame(message)
        sent += 1
        if break_after is not None and sent >= break_after:
            counts["server_broke"] += 1
            # Leaves `messages` suspended at its yield, for the loop's finalizer to close.
            break
    else:
        counts["completed"] += 1


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


class EventStreamResponse(StreamingResponse):
    """Streams in the request task; when the client goes away it just stops pulling.

    Starlette's StreamingResponse cancels its streaming task on disconnect, which throws
    CancelledError into the generator and closes it in place, masking the hazard (measured:
    0 errors in 20 dropped streams). A client that leaves is a consumer that stops early.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        content: AsyncIterator[bytes],
        counts: Counter[str],
        *,
        deadline_s: float,
        close_source: Callable[[], Awaitable[None]],
        headers: dict[str, str],
    ) -> None:
        super().__init__(content, headers={**SSE_HEADERS, **headers})
        self._counts = counts
        self._deadline_s = deadline_s
        self._close_source = close_source

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        deadline = asyncio.get_running_loop().time() + self._deadline_s
        gone = asyncio.Event()
        # A plain task, not an anyio task group: a Query that leaked its cancel scope into
        # this task would break any anyio scope exited here after it.
        watcher = asyncio.create_task(_watch_disconnect(receive, gone), name="stream.watch")
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async for chunk in self.body_iterator:
                if gone.is_set():
                    self._counts["client_dropped"] += 1
                    return
                body = {"type": "http.response.body", "body": chunk, "more_body": True}
                if not await _send_by(deadline, send, body):
                    await self._end_at_deadline(send)
                    return
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()

    async def _end_at_deadline(self, send: Send) -> None:
        """Close the query here, in the task that started it, then end the response if we can."""
        self._counts["deadline"] += 1
        await self._close_source()
        await self.body_iterator.aclose()  # type: ignore[attr-defined]
        last = {"type": "http.response.body", "body": b"", "more_body": False}
        await _send_by(asyncio.get_running_loop().time() + DEADLINE_GRACE_S, send, last)


async def _send_by(deadline: float, send: Send, message: dict[str, object]) -> bool:
    """send(), unless the deadline has passed or passes while the client is not reading."""
    if asyncio.get_running_loop().time() >= deadline:
        return False
    try:
        async with asyncio.timeout_at(deadline):
            await send(message)
    except TimeoutError:
        return False
    return True


async def _watch_disconnect(receive: Receive, gone: asyncio.Event) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()


class StreamHazard(SpecHazard):
    spec = STREAM

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        super().__init__(settings)
        self.router.add_api_route(
            "/v1/agents/{agent_id}/stream",
            self.stream,
            methods=["GET"],
            response_model=None,
            status_code=200,
            response_class=EventStreamResponse,
            responses=STREAM_RESPONSES,
        )

    async def stream(
        self,
        agent_id: Annotated[str, Path(pattern=AGENT_ID)],
        events: Annotated[int | None, Query(ge=1, le=10_000)] = None,
        interval_ms: Annotated[float | None, Query(ge=0, le=60_000)] = None,
        break_after: Annotated[int | None, Query(ge=1, le=10_000)] = None,
        teardown: Literal["finalizer", "response"] = "finalizer",
    ) -> StreamingResponse:
        if events is None:
            events = self.settings.stream_events
        if interval_ms is None:
            interval_ms = self.settings.stream_interval_ms
        max_s = self.settings.stream_max_duration_s
        events, interval_s = fit_to_duration(events, interval_ms / 1000, max_s)
        script = Script(agent_id=agent_id, events=events, interval_s=interval_s)
        self.counts["started"] += 1
        messages = query(self.impl, script)
        body = relay(messages, break_after, self.counts)
        headers = {"X-Stream-Events": str(events)}
        if teardown == "finalizer":
            return EventStreamResponse(
                body,
                self.counts,
                deadline_s=max_s + DEADLINE_GRACE_S,
                close_source=messages.aclose,
                headers=headers,
            )
        first = await anext(body)
        return StreamingResponse(
            _prepend(first, body),
            media_type="text/event-stream",
            headers={**SSE_HEADERS, **headers},
        )

    def status(self) -> dict[str, object]:
        return hazard_status(
            self,
            events=self.settings.stream_events,
            interval_ms=self.settings.stream_interval_ms,
            max_duration_s=self.settings.stream_max_duration_s,
        )
