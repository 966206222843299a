"""The session hazard's implementations: what the agent task does when the bridge cancels it.

Each runner runs one agent connection (server/hazards/session/connection.py) in the agent task
until the bridge cancels it; the names are registered in server/hazards/session/__init__.py.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar, Protocol

from stampede.server.hazards.session.connection import Connection


class Runner(Protocol):
    """Runs one agent connection in the agent task, until the bridge cancels it."""

    impl: ClassVar[str]

    async def run(self, conn: Connection) -> None: ...


class BareRunner:
    """ACP's run_agent: nothing closes the connection if this task is cancelled."""

    impl: ClassVar[str] = "bare"

    async def run(self, conn: Connection) -> None:
        await conn.listen()


class ClosingRunner:
    """The fix: close even when cancelled; shield so the close itself is not cut short."""

    impl: ClassVar[str] = "closing"

    async def run(self, conn: Connection) -> None:
        try:
            await conn.listen()
        finally:
            await asyncio.shield(conn.close())


# session_impl -> runner class.
RUNNERS: dict[str, type[Runner]] = {cls.impl: cls for cls in (BareRunner, ClosingRunner)}
