"""Cancelled-session load (seed 003): the backend health-checker pattern over WebSocket.

Each check opens `WS /v1/agents/{agent}/session`, sends JSON-RPC `initialize`, waits for the
reply and closes — so the server's bridge cancels its agent task once per check. Checks run at a
steady pace per user (`--health-check-interval`), not as fast as possible: a real checker
fires every N seconds. The check itself, and when its reply counts as a success, is
users/ws_health.py.
"""

from __future__ import annotations

import time
from typing import Any

from locust import events, task
from stampede.loadtest.storm.users.base import StormUser
from stampede.loadtest.storm.users.outcomes import StormFailure
from stampede.loadtest.storm.users.ws_health import health_check, ws_url


def add_session_arguments(parser: Any) -> None:
    parser.add_argument(
        "--health-check-interval",
        type=float,
        default=0.5,
        help="HealthCheckUser: seconds between one user's checks (0.01..3600)",
    )


events.init_command_line_parser.add_listener(add_session_arguments)


def check_interval(parsed: Any) -> float:
    value = float(getattr(parsed, "health_check_interval", None) or 0.5)
    if not 0.01 <= value <= 3600:
        raise ValueError(f"--health-check-interval must be 0.01..3600, got {value}")
    return value


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
