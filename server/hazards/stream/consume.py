"""How a server consumes an agent SDK's `query()` stream: the four patterns users write.

Whether an abandoned `query()` generator is closed in the task that started it depends on
the consuming code, not only on the SDK, so each pattern is served the way a FastAPI endpoint
writes it, with Starlette's own StreamingResponse:

- `relay`: relay every message to the client. A client that hangs up does not abandon the
  generator: Starlette runs the body in a task of its own and cancels that task on
  disconnect, so the CancelledError lands inside `query()` (waiting for its next message)
  and the SDK's own `finally` closes it in the task that started it.
- `break`: `break` out of `async for` after k messages. The generator is left suspended at
  its `yield`; the event loop's async-generator finalizer closes it in a new task.
- `flag`: a background consumer task that breaks once the endpoint sets a stop flag (after k
  messages): the same abandoned generator, from a task of the server's own.
- `cancel`: a background consumer the endpoint cancels after k messages: the cancellation
  lands inside `query()`, which closes in its own task.

In `break` and `flag` the consumer then has more work to do (saving a transcript, say), which
lasts until the SDK has torn the abandoned stream down (`Stream.torn_down`, bounded by
AFTER_EXIT_S), so every teardown happens while the consumer still runs. A cancel scope the
SDK left entered on the consumer's task cancels it there: that is counted as
`consumer_cancelled`, since nothing else in these patterns cancels the consumer (the client
reads these streams to their end). Exceptions escaping the response are `asgi_errors`.

Concurrency model: the body generator runs in Starlette's streaming task; background
consumers are plain tasks held in a set until they finish, fed to the body by a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

CONSUME_PATTERNS: tuple[str, ...] = ("relay", "break", "flag", "cancel")
# What each pattern does and whether it can leave query() to the finalizer (for reports).
DESCRIPTIONS = {
    "relay": "relay every message; the client hangs up after k. Starlette runs the response "
    "body in a task of its own and cancels that task on disconnect, so the CancelledError lands "
    "inside query() and the SDK closes it in the task that started it: no release can report "
    "the error this way.",
    "break": "`break` out of `async for` after k messages: the generator is left at its yield "
    "and the event loop's async-generator finalizer closes it in a new task.",
    "flag": "a background consumer task that breaks once the endpoint sets a stop flag (after "
    "k messages): the same abandoned generator, closed by the finalizer in a new task.",
    "cancel": "a background consumer the endpoint cancels after k messages: the "
    "CancelledError lands inside query(), which closes in its own task.",
}
# The patterns in which the server's own code stops consuming; the client reads to the end.
SERVER_STOPS = frozenset({"break", "flag", "cancel"})
CONSUME_HEADER = "X-Stampede-Consume"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# The most the consumer's work after leaving query() early waits for the SDK's teardown.
AFTER_EXIT_S = 1.0
# Distinct ASGI error texts kept per pattern for the status (the counts are exact regardless).
ERROR_TEXTS = 4
_END = object()  # queue marker: the background consumer is done

# A fresh query() generator for one stream, tagged with the pattern that consumes it; its
# source sets the Stream's `torn_down` event once the SDK has stopped it.
OpenQuery = Callable[[str], AsyncIterator[Any]]
# One SDK message as an SSE frame (index = frames sent before it), or None to skip it.
Frame = Callable[[Any, int], bytes | None]


def parse_patterns(text: str) -> tuple[str, ...]:
    """A comma list of consumption patterns, in order, no repeats; ValueError naming the bad one."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise ValueError(f"name at least one of {', '.join(CONSUME_PATTERNS)}")
    for name in names:
        if name not in CONSUME_PATTERNS:
            raise ValueError(f"unknown pattern {name!r} (known: {', '.join(CONSUME_PATTERNS)})")
    if len(set(names)) != len(names):
        raise ValueError(f"a pattern is named twice in {text!r}")
    return names


def end_frame(reason: str) -> bytes:
    return f'event: end\ndata: {{"reason":"{reason}"}}\n\n'.encode()


@dataclass
class Stream:
    """One stream's consumption: which pattern, when to stop, and where to count."""

    pattern: str
    k: int
    open_query: OpenQuery
    frame: Frame
    counts: Counter[str]
    tasks: set[asyncio.Task[None]]  # holds background consumers until they finish
    torn_down: asyncio.Event  # set by the query's source once the SDK has stopped it

    def body(self) -> AsyncIterator[bytes]:
        self.counts["started"] += 1
        if self.pattern == "relay":
            return self._relay()
        if self.pattern == "break":
            return self._break()
        return self._background(stop_by_flag=self.pattern == "flag")

    async def _relay(self) -> AsyncIterator[bytes]:
        sent = 0
        try:
            async for message in self.open_query(self.pattern):
                chunk = self.frame(message, sent)
                if chunk is not None:
                    sent += 1
                    yield chunk
        except (asyncio.CancelledError, GeneratorExit):
            self.counts["dropped"] += 1  # the client hung up; Starlette cancelled this task
            raise
        self.counts["completed"] += 1

    async def _break(self) -> AsyncIterator[bytes]:
        sent = 0
        async for message in self.open_query(self.pattern):
            chunk = self.frame(message, sent)
            if chunk is None:
                continue
            sent += 1
            yield chunk
            if sent >= self.k:
                self.counts["dropped"] += 1
                break  # leaves query() suspended at its yield, for the loop's finalizer
        else:
            self.counts["completed"] += 1
            return
        await self._after_exit()
        yield end_frame(f"break after {self.k}")

    async def _after_exit(self) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(AFTER_EXIT_S):
                    await self.torn_down.wait()
        except asyncio.CancelledError:
            self.counts["consumer_cancelled"] += 1
            raise

    async def _background(self, *, stop_by_flag: bool) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[object] = asyncio.Queue()
        stop = asyncio.Event()
        consumer = asyncio.create_task(self._consume(queue, stop), name=f"consume.{self.pattern}")
        self.tasks.add(consumer)
        consumer.add_done_callback(self.tasks.discard)
        sent = 0
        try:
            while sent < self.k:
                item = await queue.get()
                if item is _END:
                    return
                yield item  # type: ignore[misc]
                sent += 1
        finally:
            # Stop the consumer whatever ended this body (k frames, or the client leaving).
            if not consumer.done():
                self.counts["dropped"] += 1
                if stop_by_flag:
                    stop.set()
                else:
                    consumer.cancel()
        yield end_frame(f"{'stop flag' if stop_by_flag else 'cancel'} after {self.k}")

    async def _consume(self, queue: asyncio.Queue[object], stop: asyncio.Event) -> None:
        sent = 0
        try:
            async for message in self.open_query(self.pattern):
                if stop.is_set():
                    break  # leaves query() suspended at its yield, for the loop's finalizer
                chunk = self.frame(message, sent)
                if chunk is not None:
                    sent += 1
                    queue.put_nowait(chunk)
            else:
                self.counts["completed"] += 1
                return
            await self._after_exit()
        finally:
            queue.put_nowait(_END)


class PatternResponse(StreamingResponse):
    """Starlette's StreamingResponse, naming its pattern and counting what escapes it."""

    def __init__(self, stream: Stream, errors: Counter[str]) -> None:
        headers = SSE_HEADERS | {CONSUME_HEADER: stream.pattern}
        super().__init__(stream.body(), media_type="text/event-stream", headers=headers)
        self._counts = stream.counts
        self._errors = errors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except BaseException as exc:  # uvicorn logs it as "Exception in ASGI application"
            self._counts["asgi_errors"] += 1
            text = f"{type(exc).__name__}: {exc}"[:160]
            if text in self._errors or len(self._errors) < ERROR_TEXTS:
                self._errors[text] += 1
            raise
