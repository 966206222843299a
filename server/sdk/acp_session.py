"""`--session-impl acp`: the WebSocket session endpoint bridged to the real `acp.run_agent`.

Concurrency model: per WebSocket, as in seed 003's reporter's bridge, `run_agent` runs in an
agent task over an in-process stream pair (server/sdk/acp_streams.py), a peer task feeds the
socket's frames into the agent's reader, and an outbound task relays the agent's lines back. The
bridge races the agent and peer tasks with `asyncio.wait(FIRST_COMPLETED)`; when the peer goes
away it cancels the agent task, the health-checker pattern. What happens to the connection's
own tasks then is the SDK's behaviour under test: before 0.11.0 `run_agent` never closes the
connection, so its sender and dispatcher tasks stay pending until gc destroys them ("Task was
destroyed but it is pending!"); from 0.11.0 a shielded close in `finally` stops them.

acp's tasks are named "acp.*". Each session claims the unclaimed ones when the agent first
answers, and once more when it ends; those still pending after their session ended are
`orphaned_tasks` (held weakly, so gc can still destroy them). With sessions overlapping, a
claim can take another session's tasks; the count is exact once sessions are quiet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import Counter
from typing import Annotated

from acp import run_agent
from fastapi import APIRouter, Path, WebSocket
from stampede.server.hazards.base import AGENT_ID, hazard_status
from stampede.server.hazards.session import SESSION
from stampede.server.sdk import ACP, sdk_version
from stampede.server.sdk.acp_agent import MinimalAcpAgent
from stampede.server.sdk.acp_streams import LINE_LIMIT, StreamPair, stream_pair
from stampede.server.settings import ServerSettings

ACP_TASK_PREFIX = "acp."
# The agent task gets this long to finish once cancelled (a fixed release closes in one tick).
BRIDGE_TIMEOUT_S = 5.0
# acp logs these on the root logger when a leaked task's coroutine is torn down.
ACP_LOGGED_ERRORS = ("Send loop failed", "Background task failed")
TOO_BIG = 1009  # WebSocket close code: message too big


class _AcpLogCounter(logging.Handler):
    """Counts acp's root-logger reports of failed background tasks (they bypass the loop)."""

    def __init__(self, counts: Counter[str]) -> None:
        super().__init__(level=logging.ERROR)
        self.counts = counts

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "root" and record.getMessage() in ACP_LOGGED_ERRORS:
            self.counts["acp_logged_errors"] += 1


class AcpSessionHazard:
    name = SESSION.name
    setting = SESSION.setting
    impls = SESSION.choices
    impl = "acp"

    def __init__(self, settings: ServerSettings) -> None:
        self.sdk = f"{ACP} {sdk_version(ACP, '--session-impl acp')}"
        self.counts: Counter[str] = Counter()
        self._claimed: weakref.WeakSet[asyncio.Task[object]] = weakref.WeakSet()
        self._ended: weakref.WeakSet[asyncio.Task[object]] = weakref.WeakSet()
        self.open_sessions = 0
        logging.getLogger().addHandler(_AcpLogCounter(self.counts))
        self.router = APIRouter()
        self.router.add_api_websocket_route("/v1/agents/{agent_id}/session", self.session)

    async def session(
        self, websocket: WebSocket, agent_id: Annotated[str, Path(pattern=AGENT_ID)]
    ) -> None:
        await websocket.accept()
        self.counts["opened"] += 1
        self.open_sessions += 1
        pair = stream_pair()
        mine: weakref.WeakSet[asyncio.Task[object]] = weakref.WeakSet()
        agent = MinimalAcpAgent(agent_id)
        agent_task = asyncio.create_task(
            run_agent(agent, pair.agent_writer, pair.agent_reader), name="session.agent"
        )
        peer_task = asyncio.create_task(_pump_in(websocket, pair), name="session.peer")
        out_task = asyncio.create_task(self._pump_out(pair, websocket, mine), name="session.out")
        done: set[asyncio.Task[None]] = set()
        try:
            done, _ = await asyncio.wait(
                {agent_task, peer_task}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            await self._settle(agent_task, peer_task, out_task)
            self._end(mine)
        if peer_task not in done:
            # The agent stopped first: tell the peer rather than go silent.
            with contextlib.suppress(Exception):
                await websocket.close(code=1011)

    async def _pump_out(
        self, pair: StreamPair, websocket: WebSocket, mine: weakref.WeakSet[asyncio.Task[object]]
    ) -> None:
        """The agent's lines to the peer; claims the connection's tasks on the first one."""
        claimed = False
        while line := await pair.client_reader.readline():
            if not claimed:
                self._claim(mine)
                claimed = True
            await websocket.send_text(line.decode(errors="replace").rstrip("\n"))

    async def _settle(self, *tasks: asyncio.Task[None]) -> None:
        agent_task = tasks[0]
        if not agent_task.done():
            self.counts["agent_cancelled"] += 1
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=BRIDGE_TIMEOUT_S)
        self.counts["closed"] += 1

    def _claim(self, mine: weakref.WeakSet[asyncio.Task[object]]) -> None:
        for task in _live_acp_tasks():
            if task not in self._claimed:
                self._claimed.add(task)
                mine.add(task)

    def _end(self, mine: weakref.WeakSet[asyncio.Task[object]]) -> None:
        self.open_sessions -= 1
        self._claim(mine)
        for task in mine:
            if not task.done():
                self._ended.add(task)

    def orphaned_tasks(self) -> int:
        """acp tasks still pending after their session ended: the leak, until gc."""
        return sum(not task.done() for task in list(self._ended))

    def status(self) -> dict[str, object]:
        return hazard_status(
            self,
            sdk=self.sdk,
            open_sessions=self.open_sessions,
            orphaned_tasks=self.orphaned_tasks(),
            live_acp_tasks=len(_live_acp_tasks()),
        )


async def _pump_in(websocket: WebSocket, pair: StreamPair) -> None:
    """Peer frames into the agent; returns when the peer goes away (no EOF, as in seed 003)."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            text = (message.get("bytes") or b"").decode("utf-8", errors="replace")
        if len(text.encode()) >= LINE_LIMIT:
            await websocket.close(code=TOO_BIG, reason=f"messages are limited to {LINE_LIMIT} B")
            return
        pair.send_line(text)


def _live_acp_tasks() -> list[asyncio.Task[object]]:
    try:
        tasks = asyncio.all_tasks()
    except RuntimeError:  # no running loop: the server is not serving
        return []
    return [t for t in tasks if t.get_name().startswith(ACP_TASK_PREFIX) and not t.done()]
