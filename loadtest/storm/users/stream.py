"""Streaming-teardown load (seeds 002 and 004): clients that leave an SSE stream early.

Each task opens `GET /v1/agents/{agent}/stream`, reads `--stream-drop-after` events and closes
the socket, as a browser tab or a retrying gateway does. A raw (gevent-patched) socket, so the
close really is a TCP close: a pooled HTTP client might keep or drain the connection instead,
and the server would never see the client leave. Every read is bounded by
`--client-timeout`, the event count and a byte limit.

A server that names a consumption pattern in which it stops the stream itself (break, flag,
cancel: see server/hazards/consume.py) gets read to the end of its response instead, so any
cancellation its consumer sees is not the client's doing; a response cut off before its end is
a failure ("stream cut short"). Stats names carry the pattern.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from locust import events, task
from stampede.loadtest.storm.users.base import StormUser
from stampede.loadtest.storm.users.exchange import attempt_context, encode, run_steps
from stampede.loadtest.storm.users.outcomes import (
    ClientTimeoutError,
    ConnectionFailedError,
    SetupFailedError,
    StormFailure,
    UnexpectedStatusError,
)
from stampede.loadtest.storm.users.workload import Stream
from stampede.server.hazards.stream.consume import CONSUME_HEADER, SERVER_STOPS

MAX_STREAM_BYTES = 1 << 20
RECV_BYTES = 16384


def add_stream_arguments(parser: Any) -> None:
    parser.add_argument(
        "--stream-drop-after",
        type=int,
        default=3,
        help="StreamUser: SSE events to read before dropping the connection (1..10000)",
    )


events.init_command_line_parser.add_listener(add_stream_arguments)


class StreamIncompleteError(StormFailure):
    """The stream ended before the user read the events it wanted."""

    outcome = "http_error"


class StreamCutError(StormFailure):
    """A stream the server was to end itself stopped before the end of its response."""

    outcome = "http_error"


LAST_CHUNK = b"0\r\n\r\n"  # chunked transfer coding's end of the response


def drop_after(parsed: Any) -> int:
    value = int(getattr(parsed, "stream_drop_after", None) or 3)
    if not 1 <= value <= 10_000:
        raise ValueError(f"--stream-drop-after must be 1..10000, got {value}")
    return value


class StreamReader:
    """One SSE stream over one socket: read up to k events, then close it."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout

    def read(
        self,
        path: str,
        k: int,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        ends_early: bool = False,
    ) -> tuple[int, bytes]:
        """(events read, bytes received); raises a StormFailure if it went wrong. `pattern` is
        then the consumption pattern the server named, if any. `ends_early`: a protocol stream
        (a POST's SSE answer) that reaches its own end before k events is read whole, not a
        failure."""
        self.pattern: str | None = None
        self.eof = False
        deadline = time.monotonic() + self.timeout
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise _failure(exc) from None
        try:
            # host:port, as HTTP/1.1 wants off port 80 (MCP refuses a bare host with 421)
            lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
            lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
            if ends_early:  # a JSON answer then ends with the connection, not a timeout
                lines.append("Connection: close")
            if body or method != "GET":
                lines.append(f"Content-Length: {len(body)}")
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            received = self._read_until(sock, deadline, b"", lambda data: b"\r\n\r\n" in data)
            head, _, body = received.partition(b"\r\n\r\n")
            status = _status(head)
            if status != 200:
                raise UnexpectedStatusError(f"unexpected HTTP {status}")
            self.pattern = _header(head, CONSUME_HEADER)
            if self.pattern in SERVER_STOPS:
                body = self._read_until(sock, deadline, body, _ended)
                if not _ended(body):
                    raise StreamCutError(f"stream cut short ({self.pattern})")
                return _events(body), head + body

            def done(data: bytes) -> bool:
                # A protocol stream may end (last chunk, or the close after a JSON answer)
                # before k events: it was read whole.
                return _enough(data, k) or (ends_early and (_ended(data) or self.eof))

            body = self._read_until(sock, deadline, body, done)
            if not done(body):
                raise StreamIncompleteError("stream ended before the events to read")
            return min(_events(body), k), head + body
        except OSError as exc:
            raise _failure(exc) from None
        finally:
            sock.close()  # the point: leave mid-stream

    def _read_until(
        self, sock: socket.socket, deadline: float, data: bytes, done: Callable[[bytes], bool]
    ) -> bytes:
        while not done(data):
            left = deadline - time.monotonic()
            if left <= 0 or len(data) > MAX_STREAM_BYTES:
                raise ClientTimeoutError("no answer within the client timeout")
            sock.settimeout(left)
            chunk = sock.recv(RECV_BYTES)
            if not chunk:
                self.eof = True
                break
            data += chunk
        return data


def _enough(body: bytes, k: int) -> bool:
    # k events, or a stream shorter than k that reached its result.
    return _events(body) >= k or b"event: result" in body


def _ended(body: bytes) -> bool:
    return body.endswith(LAST_CHUNK)


def _header(head: bytes, name: str) -> str | None:
    wanted = name.lower().encode()
    for line in head.split(b"\r\n")[1:]:
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == wanted:
            return value.strip().decode(errors="replace")
    return None


def _events(body: bytes) -> int:
    # One SSE event per "\n\n"; chunked framing only adds "\r\n" around each frame.
    return body.count(b"\n\n")


def _status(head: bytes) -> int:
    try:
        return int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def _failure(exc: OSError) -> StormFailure:
    if isinstance(exc, TimeoutError | socket.timeout):
        return ClientTimeoutError("no answer within the client timeout")
    return ConnectionFailedError(f"connection failed: {type(exc).__name__}")


class StreamUser(StormUser):
    """Opens agent streams and drops each one after --stream-drop-after events."""

    def open_stream(self, agent: str) -> bytes:
        if self.workload.stream != Stream() or self.workload.setup:
            return self.open_protocol_stream(agent)
        path = self.workload.stream.path.replace("{agent}", agent)
        _, received = self.reader.read(path, self.drop_after)
        return received

    def open_protocol_stream(self, agent: str) -> bytes:
        """A workload's [stream]: setup steps first (their captures fill its placeholders),
        then its method, headers and body; a stream the protocol ends itself before
        --stream-drop-after events is read whole."""
        stream = self.workload.stream
        self.opened += 1
        key = f"s{self.options.seed}-w{self.worker}-u{self.slot}-st{self.opened}"
        context: dict[str, Any] = {"prompt": f"storm {key}", "key": key, "agent": agent}
        for scope in ("user", "intent", "attempt"):  # one stream is one intent and attempt
            steps = self.workload.steps(scope)
            if steps and not (scope == "user" and self.user_ready):
                target = self.user_context if scope == "user" else context
                if run_steps(self, steps, target) != "ok":
                    raise SetupFailedError("setup_failed")
                self.user_ready = self.user_ready or scope == "user"
        request = encode(stream, attempt_context({**self.user_context, **context}), {})
        _, received = self.reader.read(
            request["url"],
            self.drop_after,
            stream.method,
            {"Accept": "text/event-stream", **request["headers"]},
            request.get("data", b""),
            ends_early=True,
        )
        return received

    def on_start(self) -> None:
        self.drop_after = drop_after(self.environment.parsed_options)
        self.reader = StreamReader(self.host, self.options.client_timeout)
        self.agents = self.agent_pool()
        self.user_context: dict[str, Any] = {}  # captures of the user-scoped setup steps
        self.user_ready = False
        self.opened = 0

    @task
    def drop_stream(self) -> None:
        agent = self.rng.choice(self.agents)
        started = time.perf_counter()
        exception: BaseException | None = None
        received = b""
        try:
            with self.in_flight():
                received = self.open_stream(agent)
        except StormFailure as exc:
            exception = exc
        name = f"{self.name_prefix}stream [{_describe(self.reader.pattern, self.drop_after)}]"
        self.environment.events.request.fire(
            request_type="SSE",
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=len(received),
            exception=exception,
            context=self.context(),
        )


def _describe(pattern: str | None, k: int) -> str:
    if pattern in SERVER_STOPS:
        return f"server {pattern} after {k}"
    if pattern is not None:
        return f"{pattern}, drop after {k}"
    return f"drop after {k}"
