"""ASGI middleware that bounds what one request may cost: body size and concurrent agent work.

`BodyLimit` answers 413 before anything parses the body: at once from Content-Length, or while
reading a streamed (chunked) body, which it buffers up to the cap and replays to the app. So a
100 MB JSON body never reaches the JSON parser or memory beyond the cap.

`ConcurrencyLimit` caps agent requests and WebSocket sessions in progress (paths under
/v1/agents/): one more gets 503 `overloaded` with Retry-After (a WebSocket is refused before it
is accepted). Health, status and metrics stay exempt, so a storm never blinds the monitors.
Connections themselves are bounded by uvicorn's `limit_concurrency` (server/serve.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

AGENT_PATHS = "/v1/agents/"
RETRY_AFTER_S = 1
# Told the reason of every request a limit refused ("payload_too_large", "overloaded").
Count = Callable[[str], None]


async def send_error(
    send: Send, status: int, error: str, message: str, headers: dict[str, str] | None = None
) -> None:
    """The server's JSON error shape, sent straight from a middleware."""
    body = json.dumps({"error": error, "message": message}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class BodyLimit:
    """413 for a body over `max_bytes`, decided before the app reads (let alone parses) it."""

    def __init__(self, app: ASGIApp, max_bytes: int, count: Count) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self._count = count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        chunked = "chunked" in (_header(scope, b"transfer-encoding") or "").lower()
        if length is None and not chunked:
            await self.app(scope, receive, send)  # no body (uvicorn refuses bodies without either)
            return
        if length is not None and length.strip().isdigit() and int(length) > self.max_bytes:
            await self._too_large(send, f"Content-Length {int(length)}")
            return
        replay = await self._read(receive)
        if replay is None:
            await self._too_large(send, "the streamed body")
            return
        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> Receive | None:
        """The whole body, at most max_bytes of it; None once it is over."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: let the app see it
                return _replay([], message, receive)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return _replay(chunks, None, receive)

    async def _too_large(self, send: Send, what: str) -> None:
        self._count("payload_too_large")
        await send_error(
            send,
            413,
            "payload_too_large",
            f"{what} is over the request body limit of {self.max_bytes} bytes (--max-body-bytes)",
            {"Connection": "close"},
        )


def _replay(chunks: list[bytes], last: Message | None, receive: Receive) -> Receive:
    """A receive() that hands out the buffered body once, then defers to the real one."""
    body: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
    pending: list[Message] = [last if last is not None else body]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay


class ConcurrencyLimit:
    """At most `limit` agent requests and sessions at once; the rest get 503 `overloaded`."""

    def __init__(self, app: ASGIApp, limit: int, count: Count) -> None:
        self.app = app
        self.limit = limit
        self.active = 0
        self._count = count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not scope["path"].startswith(AGENT_PATHS):
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:
            self._count("overloaded")
            await self._reject(scope, receive, send)
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = (
            f"{self.limit} agent requests and sessions are in progress, the server's limit "
            f"(--max-concurrency); retry after {RETRY_AFTER_S} s"
        )
        if scope["type"] == "websocket":
            # Refused before accept (after the connect event): uvicorn answers 403.
            await receive()
            await send({"type": "websocket.close", "code": 1013, "reason": "overloaded"})
            return
        await send_error(send, 503, "overloaded", message, {"Retry-After": str(RETRY_AFTER_S)})
