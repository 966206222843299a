"""The base of every storm user: which target it hits, and its own seeded RNG.

Users are numbered per class as they are created; with N targets, user i hits target i % N
and seeds its RNG from (seed, worker, class, i // N), so every target sees the same schedule.
Targets must be loopback unless --allow-remote names them (users/loopback.py): checked at
start-up and again for each user, as the web UI can change the host after start-up.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import sys
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from locust import events
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopTest
from stampede.loadtest.storm.users.agents import AgentPool
from stampede.loadtest.storm.users.arguments import StormOptions, storm_options
from stampede.loadtest.storm.users.client_metrics import STORE
from stampede.loadtest.storm.users.loopback import refused_urls, storm_urls
from stampede.loadtest.storm.users.workload import Workload, add_workload_argument, workload_of

EXIT_USAGE = 2
_counters: dict[type, itertools.count] = {}
events.init_command_line_parser.add_listener(add_workload_argument)


@events.init.add_listener
def _refuse_non_loopback(environment: Any, **_: Any) -> None:
    """At start-up: --host and --targets on loopback unless --allow-remote (users/loopback.py)."""
    parsed = environment.parsed_options
    if parsed is None:
        return
    try:
        problem = refused_urls(storm_urls(parsed, environment.host), parsed.allow_remote)
    except ValueError as exc:  # a malformed --targets: its own one-line message
        problem = str(exc)
    if problem:
        print(f"locust: error: {problem}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_USAGE)


@events.test_start.add_listener
def _restart_numbering(**_: Any) -> None:
    # A new run from the web UI starts the same schedule again.
    _counters.clear()


def _next_index(cls: type) -> int:
    return next(_counters.setdefault(cls, itertools.count()))


class StormUser(FastHttpUser):
    abstract = True
    default_variant: ClassVar[str] = "default"

    def __init__(self, environment: Any) -> None:
        self.options: StormOptions = storm_options(environment.parsed_options)
        self.workload: Workload = workload_of(environment.parsed_options)
        index = _next_index(type(self))
        targets = self.options.targets
        if targets:
            self.variant, self.host = targets[index % len(targets)]
            self.slot = index // len(targets)
            self.name_prefix = f"{self.variant}:"
        else:
            self.variant, self.slot, self.name_prefix = self.default_variant, index, ""
        # Again per user: the web UI may have re-aimed host or targets since start-up.
        if problem := refused_urls([self.host] if self.host else [], self.options.allow_remote):
            raise StopTest(problem)  # Locust logs it and stops the whole test
        # Instance attributes read by FastHttpUser.__init__ when it builds the client.
        self.network_timeout = self.options.client_timeout
        self.connection_timeout = self.options.client_timeout
        # Connections per user: one per sender of every intent it may have in flight, so no
        # attempt ever queues for a connection inside the client (a hidden coordinated
        # omission). The pool opens them lazily; this is only its bound.
        in_flight = self.options.max_inflight_intents if self.options.arrival else 1
        self.concurrency = self.options.duplicates * in_flight + 2
        super().__init__(environment)
        self.worker = int(getattr(environment.runner, "worker_index", 0) or 0)
        seed = f"{self.options.seed}:{self.worker}:{type(self).__name__}:{self.slot}"
        self.rng = random.Random(seed)

    def agent_pool(self) -> Sequence[str]:
        """--agents N agents; 0 ("one per intent" for the storm) gives each user its own."""
        if self.options.agents == 0:
            return [f"agent-u{self.worker}-{self.slot}"]
        return AgentPool(self.options.agents)

    def context(self) -> dict[str, Any]:
        # Lands in every request event: the client-metrics exporter labels by it.
        return {"variant": self.variant}

    def wait_time(self) -> float:
        return self.rng.uniform(0.0, self.options.think_time)

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """Count a request in flight while it runs (the client-side progress watch reads it),
        however it ends: answered, timed out, or killed at the storm's time bound."""
        STORE.started()
        try:
            yield
        finally:
            STORE.ended()
