"""One plain HTTP request per task, classified like every storm's: the users of the hazards whose
trigger is a single call (a tool call, a cancelled call, a session opened and left).

The request's event carries the user's variant, so the client-metrics exporter counts it per
target, and it is counted in flight while it runs (the black box's progress watch reads that).
"""

from __future__ import annotations

from typing import Any

from stampede.loadtest.storm.users.base import StormUser
from stampede.loadtest.storm.users.outcomes import classify


def send(user: StormUser, method: str, path: str, name: str, **params: Any) -> Any:
    """One attempt; returns the response (its status says how it went)."""
    with (
        user.in_flight(),
        user.client.request(
            method,
            path,
            params=params or None,
            name=f"{user.name_prefix}{name}",
            context=user.context(),
            catch_response=True,
        ) as response,
    ):
        failure = classify(response)
        if failure is None:
            response.success()
        else:
            response.failure(failure)
        return response
