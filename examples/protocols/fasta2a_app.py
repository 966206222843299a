"""An A2A server on fasta2a (pydantic-ai's A2A bridge, `agent_to_a2a`) with a stub model.

    uvicorn examples.protocols.fasta2a_app:app --port 8000          # A2A JSON-RPC at POST /
    uvicorn examples.protocols.fasta2a_app:wedged_app --port 8000   # duplicates park threads
    uvicorn examples.protocols.fasta2a_app:failing_app --port 8000  # the tool raises

SendMessage answers with a submitted task at once; fasta2a's worker runs the agent, one task at
a time, and the task is read back with GetTask.

`wedged_app` adds the app's own "this message is already running" layer in front of fasta2a's
broker: a SendMessage whose messageId is already being worked on waits for that task to end
with `await asyncio.to_thread(event.wait)`, so each waiting duplicate holds a default-executor
worker, and the running task's model calls (worker threads too) never get one.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from fasta2a import FastA2A
from fasta2a.broker import InMemoryBroker
from fasta2a.pydantic_ai import agent_to_a2a
from fasta2a.storage import InMemoryStorage

from examples.protocols.pydantic_ai_agent import create_agent

ENDED = {"completed", "canceled", "failed", "rejected"}


class OncePerMessageBroker(InMemoryBroker):
    def __init__(self) -> None:
        super().__init__()
        self.first: dict[str, str] = {}  # message id -> the task that works on it
        self.ended: dict[str, threading.Event] = {}  # task id -> set when it ends

    async def run_task(self, params: Any) -> None:
        message_id = str(params["message"].get("message_id", ""))
        if message_id in self.first:  # a duplicate: wait for the first one's task
            await asyncio.to_thread(self.ended[self.first[message_id]].wait)
        else:
            self.first[message_id] = params["id"]
            self.ended[params["id"]] = threading.Event()
        await super().run_task(params)


class SignallingStorage(InMemoryStorage):
    def __init__(self, broker: OncePerMessageBroker) -> None:
        super().__init__()
        self.broker = broker

    async def update_task(self, task_id: str, state: Any, *args: Any, **kwargs: Any) -> Any:
        task = await super().update_task(task_id, state, *args, **kwargs)
        if state in ENDED and task_id in self.broker.ended:
            self.broker.ended[task_id].set()
        return task


def create_app(mode: str = "ok") -> FastA2A:
    agent = create_agent("failing" if mode == "failing" else "ok")
    if mode != "wedged":
        return agent_to_a2a(agent)
    broker = OncePerMessageBroker()
    return agent_to_a2a(agent, broker=broker, storage=SignallingStorage(broker))


app = create_app()
wedged_app = create_app("wedged")
failing_app = create_app("failing")
