"""Query-like objects that own background tasks, and the `query()` generator users iterate.

Concurrency model: `start()` launches a reader task that emits the agent's messages on a paced
schedule into a memory stream and spawns one short child task per message (like the SDK's
control-request handlers). The consumer iterates `receive()`; `close()` stops the reader and
children. The three implementations differ only in who owns those tasks, which decides whether
`close()` may run in a task other than the one that ran `start()` — exactly what happens when
the event loop's async-generator finalizer closes an abandoned `query()` generator:

- `anyio_taskgroup`: a task group entered by hand in start() and exited in close() (seed 002,
  the buggy pattern): a cross-task close raises "Attempted to exit cancel scope in a different
  task than it was entered in".
- `asyncio_tasks`: plain `asyncio.create_task` tasks, cancelled from any task (seed 004's fix).
- `owner_task`: one dedicated owner task enters and exits the task group; close() only signals
  it and waits, so any task may close it, and it runs on trio as well as asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

Message = dict[str, Any]
Spawn = Callable[[Callable[[], Awaitable[None]]], None]

# Bounds how long close() waits for background work to stop; it normally takes one tick.
CLOSE_TIMEOUT_S = 5.0


@dataclass
class Script:
    """What the agent says: `events` messages, one every `interval_s`, the last a result."""

    agent_id: str
    events: int = 10
    interval_s: float = 0.05
    acked: int = field(default=0, init=False)
    # Reader and children currently running: 0 after close() means nothing was left behind.
    running: int = field(default=0, init=False)

    def message(self, index: int) -> Message:
        last = index == self.events - 1
        return {
            "type": "result" if last else "assistant",
            "agent_id": self.agent_id,
            "index": index,
            "text": "done" if last else f"part {index + 1} of {self.events}",
        }

    async def run(self, send: MemoryObjectSendStream[Message], spawn: Spawn) -> None:
        """The reader: emit each message in order, spawning a per-message child."""
        self.running += 1
        try:
            async with send:
                for index in range(self.events):
                    await anyio.sleep(self.interval_s)
                    spawn(self._ack)
                    await send.send(self.message(index))
        finally:
            self.running -= 1

    async def _ack(self) -> None:
        # A child's small piece of work (a hook callback, say); it may still be running at close.
        self.running += 1
        try:
            await anyio.sleep(self.interval_s / 2)
            self.acked += 1
        finally:
            self.running -= 1


class Query(Protocol):
    """start() in one task; receive() and close() possibly in others."""

    async def start(self) -> None: ...

    def receive(self) -> AsyncIterable[Message]: ...

    async def close(self) -> None: ...


class _Channel:
    """The memory stream between the reader and the consumer."""

    def __init__(self) -> None:
        pair = anyio.create_memory_object_stream[Message](max_buffer_size=16)
        self.send: MemoryObjectSendStream[Message] = pair[0]
        self.recv: MemoryObjectReceiveStream[Message] = pair[1]

    def close(self) -> None:
        self.send.close()
        self.recv.close()


class AnyioTaskGroupQuery:
    """The buggy pattern: the task group is entered in start() and exited in close()."""

    impl: ClassVar[str] = "anyio_taskgroup"

    def __init__(self, script: Script) -> None:
        self.script = script
        self._channel = _Channel()
        self._tg: TaskGroup | None = None

    async def start(self) -> None:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self.script.run, self._channel.send, self._spawn)

    def _spawn(self, child: Callable[[], Awaitable[None]]) -> None:
        if self._tg is not None:
            self._tg.start_soon(child)

    def receive(self) -> AsyncIterable[Message]:
        return self._channel.recv

    async def close(self) -> None:
        tg, self._tg = self._tg, None
        try:
            if tg is not None:
                tg.cancel_scope.cancel()
                # As in the SDK: fine in the task that ran start(), a RuntimeError elsewhere.
                with contextlib.suppress(anyio.get_cancelled_exc_class()):
                    await tg.__aexit__(None, None, None)
        finally:
            # Only once the reader is stopped: closing under it would fail its send().
            self._channel.close()


class AsyncioTasksQuery:
    """The merged fix (PR #746): plain asyncio tasks, which any task may cancel."""

    impl: ClassVar[str] = "asyncio_tasks"

    def __init__(self, script: Script) -> None:
        self.script = script
        self._channel = _Channel()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._spawn(lambda: self.script.run(self._channel.send, self._spawn))

    def _spawn(self, child: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.create_task(_run(child), name="stream.query")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def receive(self) -> AsyncIterable[Message]:
        return self._channel.recv

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_S)
        self._channel.close()


class OwnerTaskQuery:
    """An anyio fix that keeps trio: a dedicated owner task enters and exits the task group."""

    impl: ClassVar[str] = "owner_task"

    def __init__(self, script: Script) -> None:
        self.script = script
        self._channel = _Channel()
        self._stop = anyio.Event()
        self._done = anyio.Event()
        self._owner: object = None
        self.error: BaseException | None = None

    async def start(self) -> None:
        self._owner = _spawn_detached(self._own)

    async def _own(self) -> None:
        try:
            async with anyio.create_task_group() as tg:

                def spawn(child: Callable[[], Awaitable[None]]) -> None:
                    tg.start_soon(child)

                tg.start_soon(self.script.run, self._channel.send, spawn)
                await self._stop.wait()
                tg.cancel_scope.cancel()
        except Exception as exc:  # a detached task has nobody to raise to; keep it for close()
            self.error = exc
        finally:
            self._done.set()

    def receive(self) -> AsyncIterable[Message]:
        return self._channel.recv

    async def close(self) -> None:
        if self._owner is not None:
            self._stop.set()
            # Shielded: close() often runs in a cancelled context (trio's asyncgen finalizer,
            # a cancelled consumer), and must still wait for the owner to stop.
            with anyio.move_on_after(CLOSE_TIMEOUT_S, shield=True):
                await self._done.wait()
        self._channel.close()
        if self.error is not None:
            raise self.error


def _spawn_detached(fn: Callable[[], Awaitable[None]]) -> object:
    """Start `fn` in a task no caller scope owns: a loop task on asyncio, a trio system task."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        import trio

        return trio.lowlevel.spawn_system_task(fn, name="stream.owner")
    return loop.create_task(_run(fn), name="stream.owner")


async def _run(fn: Callable[[], Awaitable[None]]) -> None:
    await fn()


# stream_impl -> Query class; the names are registered in server/hazards/stream/__init__.py.
QUERY_CLASSES: dict[str, type[AnyioTaskGroupQuery | AsyncioTasksQuery | OwnerTaskQuery]] = {
    cls.impl: cls for cls in (AnyioTaskGroupQuery, AsyncioTasksQuery, OwnerTaskQuery)
}


def make_query(impl: str, script: Script) -> Query:
    try:
        return QUERY_CLASSES[impl](script)
    except KeyError:
        known = ", ".join(QUERY_CLASSES)
        raise ValueError(f"unknown stream impl {impl!r}; choose from {known}") from None


async def query(impl: str, script: Script) -> AsyncIterator[Message]:
    """What users iterate, shaped like the SDK's process_query: start, relay, close."""
    q = make_query(impl, script)
    await q.start()
    try:
        async for message in q.receive():
            yield message
    finally:
        await q.close()
