"""Overlap load (strands-agents #1176): the same chat turns one at a time, then overlapping.

One user drives the phases (a second would overlap the first's one-at-a-time phase; the others
stay idle). Each cycle takes `--burst-size` sessions of its own and sends one turn for each:
first one at a time, then the same turns again all at once, and repeats. Every answer is
checked: two messages of history per turn the answer reports (`history == 2 * turns`), else it
is a failure of its own kind. Request names say the phase: `[one at a time, before any
overlap]` (only the first cycle's, nothing has overlapped yet), `[overlapping]` and `[one at a
time, after overlap]`, so the detector (loadtest/verdict/shared_agent.py) compares them.
"""

from __future__ import annotations

from typing import Any

import gevent
from gevent.pool import Group
from locust import events, task
from stampede.loadtest.storm.users.base import StormUser
from stampede.loadtest.storm.users.outcomes import StormFailure, classify
from stampede.loadtest.verdict import shared_agent as verdict
from stampede.loadtest.verdict.shared_agent import PHASE_NAMES

PATH = "/v1/agents/{agent}/chat"
BEFORE, OVERLAP, AFTER = (PHASE_NAMES[p] for p in (verdict.BEFORE, verdict.OVERLAP, verdict.AFTER))


class BadAnswerError(StormFailure):
    """A 200 whose history length does not match its turn count: a corrupted conversation."""

    outcome = "bad_answer"


BAD_ANSWER = BadAnswerError("200 with history length != 2 x turns")
NO_COUNTS = BadAnswerError("200 without turns and history counts")


def add_shared_agent_arguments(parser: Any) -> None:
    parser.add_argument(
        "--burst-size",
        type=int,
        default=8,
        help="SharedAgentUser: turns sent one at a time, then all at once, per cycle (2..256)",
    )


events.init_command_line_parser.add_listener(add_shared_agent_arguments)


def burst_size(parsed: Any) -> int:
    value = int(getattr(parsed, "burst_size", None) or 8)
    if not 2 <= value <= 256:
        raise ValueError(f"--burst-size must be 2..256, got {value}")
    return value


def check_answer(body: Any) -> StormFailure | None:
    """None for a sound answer: exactly two messages of history per turn."""
    if not isinstance(body, dict):
        return NO_COUNTS
    turns, history = body.get("turns"), body.get("history")
    if not isinstance(turns, int) or not isinstance(history, int):
        return NO_COUNTS
    return None if history == 2 * turns else BAD_ANSWER


class SharedAgentUser(StormUser):
    """Cycles of --burst-size turns: one at a time, then overlapping (user 0 only)."""

    def on_start(self) -> None:
        self.size = burst_size(self.environment.parsed_options)
        self.cycle = 0
        self.overlapped = False

    @task
    def cycle_turns(self) -> None:
        if self.slot != 0:
            gevent.sleep(1.0)  # one driver per target: see the module docstring
            return
        self.cycle += 1
        sessions = [f"c{self.cycle}-s{i}" for i in range(self.size)]
        for session in sessions:
            self._turn(session, AFTER if self.overlapped else BEFORE)
        group = Group()
        for session in sessions:
            group.spawn(self._turn, session, OVERLAP)
        group.join()
        self.overlapped = True

    def _turn(self, session: str, phase: str) -> None:
        path = PATH.replace("{agent}", "shared")
        with (
            self.in_flight(),
            self.client.post(
                path,
                json={"session": session, "prompt": f"hello from {session}"},
                name=f"{self.name_prefix}chat [{phase}]",
                catch_response=True,
                context=self.context(),
            ) as response,
        ):
            failure = classify(response)
            if failure is None:
                try:
                    failure = check_answer(response.json())
                except ValueError:
                    failure = NO_COUNTS
            if failure is None:
                response.success()
            else:
                response.failure(failure)

    def wait_time(self) -> float:
        return 0.05 if self.slot == 0 else 0.0
