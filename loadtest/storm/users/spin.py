"""Spin load (anyio #1111): tool calls cut by a deadline, so each one cancels a scope.

Each user calls `POST /v1/agents/{agent}/cancel` with a tool slower than the deadline: the
server cancels the tool's scope on every call. Where the scope is exited in the wrong task,
its cancellation delivery keeps rescheduling itself after the answer, and the harness's idle
phase after the storm (observe/idle_phase.py) finds the process busy with nothing in flight.
"""

from __future__ import annotations

from locust import task
from stampede.loadtest.storm.users.base import StormUser
from stampede.loadtest.storm.users.plain import send

TOOL_MS = 100
DEADLINE_MS = 5
CANCEL_PATH = "/v1/agents/{agent}/cancel"


class CancelCallUser(StormUser):
    """Calls a tool with a deadline shorter than the tool, so every call is cancelled."""

    def on_start(self) -> None:
        self.agents = self.agent_pool()

    @task
    def call_with_deadline(self) -> None:
        agent = self.rng.choice(self.agents)
        path = CANCEL_PATH.replace("{agent}", agent)
        send(self, "POST", path, "tool [deadline]", tool_ms=TOOL_MS, deadline_ms=DEADLINE_MS)
