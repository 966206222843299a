"""Slot-leak load (litellm #27955): paced SSE streams, every other one dropped mid-stream.

Each user opens `GET /v1/agents/{agent}/limited` every `--slot-interval` seconds (a constant
offered load), reads it to its `result`, or (drawn from the seeded RNG, half the time) hangs up
after DROP_AFTER events, which cancels the server's stream. A rejection (429 or 503) is named
by what the clients had in flight when it came back: `[rejected, nothing else in flight]` when
it was this process's only request, the detector's evidence that the server refuses capacity
it is not using (loadtest/verdict/slot_release.py).
"""

from __future__ import annotations

import time
from typing import Any

from locust import events, task
from stampede.loadtest.storm.users.base import StormUser
from stampede.loadtest.storm.users.client_metrics import STORE
from stampede.loadtest.storm.users.outcomes import StormFailure
from stampede.loadtest.storm.users.sse_reader import StreamReader
from stampede.loadtest.verdict.slot_release import BUSY_REJECT, IDLE_REJECT

PATH = "/v1/agents/{agent}/limited?events=10&interval_ms=50"
DROP_AFTER = 2
READ_ALL = 1_000_000  # "read to the result"
REJECTED = ("429", "503")


def add_slot_arguments(parser: Any) -> None:
    parser.add_argument(
        "--slot-interval",
        type=float,
        default=0.5,
        help="SlotStreamUser: seconds between one user's streams (0.01..3600)",
    )


events.init_command_line_parser.add_listener(add_slot_arguments)


def slot_interval(parsed: Any) -> float:
    value = float(getattr(parsed, "slot_interval", None) or 0.5)
    if not 0.01 <= value <= 3600:
        raise ValueError(f"--slot-interval must be 0.01..3600, got {value}")
    return value


class SlotStreamUser(StormUser):
    """A stream every --slot-interval s, read to the end or dropped after DROP_AFTER events."""

    def on_start(self) -> None:
        self.interval = slot_interval(self.environment.parsed_options)
        self.reader = StreamReader(self.host, self.options.client_timeout)
        self.agents = self.agent_pool()
        self.last_started = time.monotonic()

    def wait_time(self) -> float:
        return max(0.0, self.last_started + self.interval - time.monotonic())

    @task
    def stream(self) -> None:
        self.last_started = time.monotonic()
        drop = self.rng.random() < 0.5
        path = PATH.replace("{agent}", self.rng.choice(self.agents))
        started = time.perf_counter()
        exception: BaseException | None = None
        received = b""
        label = f"drop after {DROP_AFTER}" if drop else "read all"
        with self.in_flight():
            try:
                _, received = self.reader.read(path, DROP_AFTER if drop else READ_ALL)
            except StormFailure as exc:
                exception = exc
                if any(f"HTTP {code}" in str(exc) for code in REJECTED):
                    # This request is still counted: alone means nothing else was in flight.
                    label = IDLE_REJECT if STORE.total_inflight() <= 1 else BUSY_REJECT
        self.environment.events.request.fire(
            request_type="SSE",
            name=f"{self.name_prefix}limited [{label}]",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=len(received),
            exception=exception,
            context=self.context(),
        )
