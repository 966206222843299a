"""Thread-limiter load (fastapi #3205): bursts of duplicates on a sync route.

Each iteration builds one fresh key: `--duplicates` concurrent GETs of
`/v1/agents/{agent}/build?key=K`, as clients retrying the same work; on the buggy server the
duplicates park anyio worker threads until the primary's sync step sets the key's Event. The
server's sync health route is asked by the harness's pinger beside the storm (the scenario's
ping path), not by these users: its checks are then timed against the sampled state, so the
sync-health finding counts the checks sent while the wedge held (verdict/thread_limiter.py).
"""

from __future__ import annotations

import time
import uuid

import gevent
from gevent.pool import Group
from locust import task
from stampede.loadtest.storm.users.base import StormUser
from stampede.loadtest.storm.users.outcomes import ClientTimeoutError, classify
from stampede.loadtest.verdict.thread_limiter import BUILD_NAME

BUILD_PATH = "/v1/agents/{agent}/build"


class LimiterStormUser(StormUser):
    """A burst of --duplicates builds of one fresh key."""

    def on_start(self) -> None:
        self.agents = self.agent_pool()

    @task
    def burst(self) -> None:
        agent = self.rng.choice(self.agents)
        key = uuid.UUID(int=self.rng.getrandbits(128)).hex
        path = BUILD_PATH.replace("{agent}", agent) + f"?key={key}"
        group = Group()
        for _ in range(max(1, self.options.duplicates)):
            group.spawn(self._get, path, BUILD_NAME, self.options.client_timeout)
        group.join()

    def _get(self, path: str, name: str, timeout: float) -> None:
        started = time.perf_counter()
        with self.in_flight():
            try:
                # gevent.Timeout: a wedged server never answers; the client gives up.
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
