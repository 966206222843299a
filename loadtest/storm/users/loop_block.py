"""Event-loop blocking load (mcp python-sdk #1646): tool calls whose tool is a sync function.

Each user calls `POST /v1/agents/{agent}/tool?ms=TOOL_MS` back to back. On a server that runs
the sync tool inline in its async handler, the loop's thread sleeps through every call; the
harness meanwhile pings the health path beside the storm (observe/responsiveness.py), and
those pings wait behind the tool calls.
"""

from __future__ import annotations

from locust import task
from stampede.loadtest.storm.users.base import StormUser
from stampede.loadtest.storm.users.plain import send

TOOL_MS = 200
TOOL_PATH = "/v1/agents/{agent}/tool"


class ToolCallUser(StormUser):
    """Calls a sync tool through the async endpoint, one call after another."""

    def on_start(self) -> None:
        self.agents = self.agent_pool()

    @task
    def call_tool(self) -> None:
        agent = self.rng.choice(self.agents)
        send(self, "POST", TOOL_PATH.replace("{agent}", agent), "tool [sync]", ms=TOOL_MS)
