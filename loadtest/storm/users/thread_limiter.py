"""Thread-limiter load (fastapi #3205): bursts of duplicates on a sync route, a sync health check.

Each iteration builds one fresh key: `--duplicates` concurrent GETs of
`/v1/agents/{agent}/build?key=K`, as clients retrying the same work; on the buggy server the
duplicates park anyio worker threads until the primary's sync step sets the key's Event. Beside
each burst the user asks the server's sync health route (`--sync-health-path`, a sync `def` on
anyio's threads like the build route) with a short timeout: when the tokens run out it stops
answering, which is a finding of its own even while an async `/healthz` still answers.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import gevent
from gevent.pool import Group
from locust import events, task
from stampede.loadtest.storm.users.base import StormUser
from stampede.loadtest.storm.users.outcomes import ClientTimeoutError, classify
from stampede.loadtest.verdict.thread_limiter import BUILD_NAME, HEALTH_NAME

BUILD_PATH = "/v1/agents/{agent}/build"


def add_thread_limiter_arguments(parser: Any) -> None:
    parser.add_argument(
        "--sync-health-path",
        default="/healthz",
        help="LimiterStormUser: the server's sync health route, asked beside each burst",
    )
    parser.add_argument(
        "--sync-health-timeout",
        type=float,
        default=1.0,
        help="LimiterStormUser: seconds the sync health check waits (0.05..60)",
    )


events.init_command_line_parser.add_listener(add_thread_limiter_arguments)


def health_timeout(parsed: Any) -> float:
    value = float(getattr(parsed, "sync_health_timeout", None) or 1.0)
    if not 0.05 <= value <= 60:
        raise ValueError(f"--sync-health-timeout must be 0.05..60, got {value}")
    return value


class LimiterStormUser(StormUser):
    """A burst of --duplicates builds of one fresh key, and one sync health check beside it."""

    def on_start(self) -> None:
        parsed = self.environment.parsed_options
        self.health_path = str(getattr(parsed, "sync_health_path", None) or "/healthz")
        self.health_timeout = health_timeout(parsed)
        self.agents = self.agent_pool()

    @task
    def burst(self) -> None:
        agent = self.rng.choice(self.agents)
        key = uuid.UUID(int=self.rng.getrandbits(128)).hex
        path = BUILD_PATH.replace("{agent}", agent) + f"?key={key}"
        group = Group()
        for _ in range(max(1, self.options.duplicates)):
            group.spawn(self._get, path, BUILD_NAME, self.options.client_timeout)
        group.spawn(self._get, self.health_path, HEALTH_NAME, self.health_timeout)
        group.join()

    def _get(self, path: str, name: str, timeout: float) -> None:
        started = time.perf_counter()
        with self.in_flight():
            try:
                # gevent.Timeout: the health check's bound is shorter than the client's.
                with (
                    gevent.Timeout(timeout, TimeoutError()),
                    self.client.get(
                        path,
                        name=f"{self.name_prefix}{name}",
                        catch_response=True,
                        context=self.context(),
                    ) as response,
                ):
                    failure = classify(response)
                    if failure is None:
                        response.success()
                    else:
                        response.failure(failure)
            except TimeoutError:  # cut before the response: report it ourselves
                self.environment.events.request.fire(
                    request_type="GET",
                    name=f"{self.name_prefix}{name}",
                    response_time=(time.perf_counter() - started) * 1000,
                    response_length=0,
                    exception=ClientTimeoutError("no answer within the client timeout"),
                    context=self.context(),
                )
