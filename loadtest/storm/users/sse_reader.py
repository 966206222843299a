"""One SSE stream over one raw socket: read up to k events, then close it, and judge it.

A raw (gevent-patched, under Locust) socket, so the close really is a TCP close: a pooled HTTP
client might keep or drain the connection instead, and the server would never see the client
leave. Every read is bounded by the client timeout, the event count and a byte limit. What
was read counts as a success by the workload's success rule (users/success.py): an allowed
status, no failure event among the events read (e.g. AG-UI's RUN_ERROR), no JSON-RPC error;
a stream that reached its own end also needs its terminal event, if the rule names one.

Locust-free (the stream and slot-release users read through it; tests call it directly).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import replace
from urllib.parse import urlsplit

from stampede.loadtest.storm.users.outcomes import (
    AnswerError,
    ClientTimeoutError,
    ConnectionFailedError,
    StormFailure,
    UnexpectedStatusError,
)
from stampede.loadtest.storm.users.success import SuccessRule, failure_message, judge
from stampede.server.hazards.stream.consume import CONSUME_HEADER, SERVER_STOPS

MAX_STREAM_BYTES = 1 << 20
RECV_BYTES = 16384


class StreamIncompleteError(StormFailure):
    """The stream ended before the user read the events it wanted."""

    outcome = "http_error"


class StreamCutError(StormFailure):
    """A stream the server was to end itself stopped before the end of its response."""

    outcome = "http_error"


LAST_CHUNK = b"0\r\n\r\n"  # chunked transfer coding's end of the response


def stream_rule(rule: SuccessRule) -> SuccessRule:
    """The workload's success rule as it applies to a stream: its statuses, failure and
    terminal events and the JSON-RPC error check. Its JSON checks are about the invoke's own
    answer (an A2A task id, an MCP result) and are left out."""
    return replace(rule, json=())


def judge_stream(
    rule: SuccessRule, status: int, head: bytes, body: bytes, whole: bool, k: int | None = None
) -> StormFailure | None:
    """None when the stream counts as a success, else its failure. `whole`: the stream
    reached its own end (its terminal event is then required, if the rule names one); else
    the client dropped it after its first `k` events, and those must hold no failure (what
    else the same read brought is never looked at, as the client left before it)."""
    if _header(head, "transfer-encoding") == "chunked":
        body = dechunk(body)
    content_type = _header(head, "content-type") or ""
    if not whole:
        rule = replace(rule, sse_done=())  # left early by choice: no terminal event to see
        if k is not None:
            body = _first_events(body, k)
    judgement = judge(stream_rule(rule), status, body, content_type, True)
    if judgement.ok:
        return None
    if judgement.kind.startswith("http_"):
        return UnexpectedStatusError(failure_message(judgement, status))
    return AnswerError.of(judgement.kind)


def _first_events(body: bytes, k: int) -> bytes:
    text = body.replace(b"\r\n", b"\n")
    end = -1
    for _ in range(k):
        end = text.find(b"\n\n", end + 1)
        if end < 0:
            return text
    return text[: end + 2]


def dechunk(data: bytes) -> bytes:
    """The payload of a chunked body read so far (a last chunk may be partial)."""
    out, i = [], 0
    while (j := data.find(b"\r\n", i)) >= 0:
        try:
            size = int(data[i:j].split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        chunk = data[j + 2 : j + 2 + size]
        out.append(chunk)
        if len(chunk) < size:
            break
        i = j + 2 + size + 2
    return b"".join(out)


class StreamReader:
    """One SSE stream over one socket: read up to k events, then close it. An answer counts
    by the workload's success rule (users/success.py, through judge_stream)."""

    def __init__(self, url: str, timeout: float, rule: SuccessRule | None = None) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout
        self.rule = rule if rule is not None else SuccessRule()

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
            # Not an allowed status (the rule's; else any 2xx): the body does not matter.
            if isinstance(failure := judge_stream(self.rule, status, head, b"", False), Exception):
                raise failure
            self.pattern = _header(head, CONSUME_HEADER)
            if self.pattern in SERVER_STOPS:
                body = self._read_until(sock, deadline, body, _ended)
                if not _ended(body):
                    raise StreamCutError(f"stream cut short ({self.pattern})")
                return self._judged(status, head, body, True, _events(body))

            def done(data: bytes) -> bool:
                # A protocol stream may end (last chunk, or the close after a JSON answer)
                # before k events: it was read whole.
                return _enough(data, k) or (ends_early and (_ended(data) or self.eof))

            body = self._read_until(sock, deadline, body, done)
            if not done(body):
                raise StreamIncompleteError("stream ended before the events to read")
            whole = ends_early and (_ended(body) or self.eof) and not _enough(body, k)
            return self._judged(status, head, body, whole, min(_events(body), k))
        except OSError as exc:
            raise _failure(exc) from None
        finally:
            sock.close()  # the point: leave mid-stream

    def _judged(
        self, status: int, head: bytes, body: bytes, whole: bool, events: int
    ) -> tuple[int, bytes]:
        """(events, bytes received) of a stream that counts as a success; else its failure."""
        failure = judge_stream(self.rule, status, head, body, whole, events)
        if failure is not None:
            raise failure
        return events, head + body

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
