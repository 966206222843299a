"""Streaming-teardown load (seeds 002 and 004): clients that leave an SSE stream early.

Each task opens `GET /v1/agents/{agent}/stream`, reads `--stream-drop-after` events and closes
the socket, as a browser tab or a retrying gateway does (users/sse_reader.py: a raw socket,
bounded by `--client-timeout`, the event count and a byte limit). A drop after k events is a
success only if the status is allowed and the k events arrived without a failure event, by
the workload's success rule (users/success.py).

A server that names a consumption pattern in which it stops the stream itself (break, flag,
cancel: see server/hazards/consume.py) gets read to the end of its response instead, so any
cancellation its consumer sees is not the client's doing; a response cut off before its end is
a failure ("stream cut short"). Stats names carry the pattern.
"""

from __future__ import annotations

import time
from typing import Any

from locust import events, task
from stampede.loadtest.storm.users.base import StormUser
from stampede.loadtest.storm.users.exchange import attempt_context, encode, run_steps
from stampede.loadtest.storm.users.outcomes import SetupFailedError, StormFailure, success_rule
from stampede.loadtest.storm.users.sse_reader import StreamReader
from stampede.loadtest.storm.users.workload import Stream
from stampede.server.hazards.stream.consume import SERVER_STOPS


def add_stream_arguments(parser: Any) -> None:
    parser.add_argument(
        "--stream-drop-after",
        type=int,
        default=3,
        help="StreamUser: SSE events to read before dropping the connection (1..10000)",
    )


events.init_command_line_parser.add_listener(add_stream_arguments)


def drop_after(parsed: Any) -> int:
    value = int(getattr(parsed, "stream_drop_after", None) or 3)
    if not 1 <= value <= 10_000:
        raise ValueError(f"--stream-drop-after must be 1..10000, got {value}")
    return value


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
        rule = success_rule(self.workload)
        self.reader = StreamReader(self.host, self.options.client_timeout, rule)
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
