"""Cancelled-session load (seed 003): the backend health-checker pattern over WebSocket.

Each check opens `WS /v1/agents/{agent}/session`, sends JSON-RPC `initialize`, waits for the
reply and closes — so the server's bridge cancels its agent task once per check. Checks run at a
steady pace per user (`--health-check-interval`), not as fast as possible: a real checker
fires every N seconds. websocket-client is a plain-socket client, so under Locust's gevent
patching it yields instead of blocking; every call is bounded by `--client-timeout`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from typing import Any

import websocket
from locust import events, task
from stampede.loadtest.storm.users.base import StormUser
from stampede.loadtest.storm.users.outcomes import (
    ClientTimeoutError,
    ConnectionFailedError,
    StormFailure,
    UnexpectedStatusError,
)

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1}}


def add_session_arguments(parser: Any) -> None:
    parser.add_argument(
        "--health-check-interval",
        type=float,
        default=0.5,
        help="HealthCheckUser: seconds between one user's checks (0.01..3600)",
    )


events.init_command_line_parser.add_listener(add_session_arguments)


class BadReplyError(StormFailure):
    """The agent answered initialize with something other than a result."""

    outcome = "http_error"


def check_interval(parsed: Any) -> float:
    value = float(getattr(parsed, "health_check_interval", None) or 0.5)
    if not 0.01 <= value <= 3600:
        raise ValueError(f"--health-check-interval must be 0.01..3600, got {value}")
    return value


def ws_url(http_url: str, agent: str, path: str = "/v1/agents/{agent}/session") -> str:
    base = http_url.rstrip("/").replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return base + path.replace("{agent}", agent)


def health_check(url: str, timeout: float, initialize: Any = None) -> int:
    """Open, initialize, close; returns the reply's size. Raises a StormFailure on trouble."""
    try:
        ws = websocket.create_connection(url, timeout=timeout)
    except websocket.WebSocketBadStatusException as exc:
        raise UnexpectedStatusError(f"unexpected HTTP {exc.status_code}") from None
    except (OSError, websocket.WebSocketException) as exc:
        raise _failure(exc) from None
    try:
        message = INITIALIZE if initialize is None else initialize
        ws.send(message if isinstance(message, str) else json.dumps(message))
        raw = ws.recv()
        reply = json.loads(raw)
        expected = message.get("id", 1) if isinstance(message, dict) else reply.get("id")
        if not isinstance(reply, dict) or reply.get("id") != expected or "result" not in reply:
            raise BadReplyError("initialize answered without a result")
        return len(raw)
    except ValueError:
        raise BadReplyError("initialize answered with invalid JSON") from None
    except (OSError, websocket.WebSocketException) as exc:
        raise _failure(exc) from None
    finally:
        # The point of the check: the peer goes away right after initialize.
        with contextlib.suppress(OSError, websocket.WebSocketException):
            ws.close(timeout=timeout)


def _failure(exc: BaseException) -> StormFailure:
    if isinstance(exc, TimeoutError | socket.timeout | websocket.WebSocketTimeoutException):
        return ClientTimeoutError("no answer within the client timeout")
    return ConnectionFailedError(f"connection failed: {type(exc).__name__}")


class HealthCheckUser(StormUser):
    """Opens a session, initializes it and closes it, every --health-check-interval seconds."""

    def on_start(self) -> None:
        self.interval = check_interval(self.environment.parsed_options)
        self.agents = self.agent_pool()
        self.last_started = time.monotonic()

    def wait_time(self) -> float:
        # Constant pacing: the next check starts one interval after the previous one started.
        return max(0.0, self.last_started + self.interval - time.monotonic())

    @task
    def check(self) -> None:
        self.last_started = time.monotonic()
        agent = self.rng.choice(self.agents)
        started = time.perf_counter()
        exception: BaseException | None = None
        size = 0
        try:
            session = self.workload.session
            with self.in_flight():
                size = health_check(
                    ws_url(self.host, agent, session.path),
                    self.options.client_timeout,
                    session.initialize,
                )
        except StormFailure as exc:
            exception = exc
        self.environment.events.request.fire(
            request_type="WS",
            name=f"{self.name_prefix}session [health check]",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=size,
            exception=exception,
            context=self.context(),
        )
