"""State-leak load (mcp python-sdk #1283): clients that open a session and never DELETE it.

Each task is one session: `POST /v1/sessions` (open it and get its first answer), then the
client goes away without `DELETE`, as a CLI that exits or a crashed agent does. One
successful request is one session, so the scenario reads sessions from the clients' ok count.
"""

from __future__ import annotations

from locust import task
from stampede.loadtest.storm.users.base import StormUser
from stampede.loadtest.storm.users.plain import send

SESSIONS_PATH = "/v1/sessions"


class SessionOpenUser(StormUser):
    """Opens a session and leaves it, one after another."""

    def wait_time(self) -> float:
        # Back to back: a leak rate per 1,000 sessions needs a few thousand in a short storm.
        return 0.0

    @task
    def open_and_leave(self) -> None:
        send(self, "POST", SESSIONS_PATH, "session [opened, never deleted]")
