"""A small JSON-RPC 2.0 agent connection shaped like ACP's (seed 003).

Concurrency model: `Connection.__init__` registers two long-lived tasks with a TaskSupervisor —
the sender (drains an outbound queue into `write`) and the dispatcher (takes parsed frames off
its queue, calls the agent, queues the replies). `listen()` is the receive loop in the caller's
task: it reads frames until `read` returns None and parses each (frames.py) into the
dispatcher's queue. Only `close()` stops the two supervised tasks; a caller cancelled inside
listen() that never calls close() orphans them, and since nothing but their own reference cycle
holds them, gc later destroys them while still pending ("Task was destroyed but it is
pending!").

Both queues are bounded and every producer awaits its put, so a peer that sends faster than the
agent answers, or reads slower than it writes, stalls the receive loop (and, through the
bridge's bounded inbound queue, the socket reads) instead of growing memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from stampede.server.hazards.session.frames import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    JsonObject,
    Parsed,
    TooLarge,
    error,
    is_notification,
    parse,
)

log = logging.getLogger("stampede.session")

Frame = str | bytes | TooLarge
Read = Callable[[], Awaitable[Frame | None]]
Write = Callable[[str], Awaitable[None]]
Notify = Callable[[str, JsonObject], Awaitable[None]]

# Parsed frames waiting for the agent, and replies waiting for the socket.
DISPATCH_QUEUE = 16
SEND_QUEUE = 64
# Bounds close(): flushing replies and stopping the two tasks normally takes one tick.
CLOSE_TIMEOUT_S = 2.0


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Agent(Protocol):
    async def handle(self, method: str, params: JsonObject, notify: Notify) -> JsonObject: ...


class TaskSupervisor:
    """Owns the connection's long-lived tasks; shutdown() cancels and awaits them."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def shutdown(self) -> None:
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_S)


class MessageSender:
    def __init__(self, write: Write, tasks: TaskSupervisor) -> None:
        self._write = write
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=SEND_QUEUE)
        self.task = tasks.spawn(self._loop(), name="session.sender")

    async def send(self, message: JsonObject | list[JsonObject]) -> None:
        await self._queue.put(json.dumps(message, separators=(",", ":")))

    async def _loop(self) -> None:
        while (frame := await self._queue.get()) is not None:
            try:
                await self._write(frame)
            except Exception as exc:  # the peer is gone; replies have nowhere to go
                log.debug("send failed: %r", exc)
                return

    async def close(self) -> None:
        """Stop after the replies already queued."""
        await self._queue.put(None)
        await asyncio.wait([self.task])


class MessageDispatcher:
    def __init__(self, agent: Agent, sender: MessageSender, tasks: TaskSupervisor) -> None:
        self._agent = agent
        self._sender = sender
        self._queue: asyncio.Queue[Parsed | None] = asyncio.Queue(maxsize=DISPATCH_QUEUE)
        self.task = tasks.spawn(self._run(), name="session.dispatcher")

    async def put(self, parsed: Parsed) -> None:
        await self._queue.put(parsed)

    async def stop(self) -> None:
        """Stop after the frames already queued."""
        await self._queue.put(None)
        await asyncio.wait([self.task])

    async def _run(self) -> None:
        while (parsed := await self._queue.get()) is not None:
            replies = list(parsed.errors)
            for request in parsed.requests:
                reply = await self._dispatch(request)
                if reply is not None:
                    replies.append(reply)
            if parsed.batch and replies:
                await self._sender.send(replies)  # one array for the whole batch
            elif not parsed.batch:
                for reply in replies:
                    await self._sender.send(reply)

    async def _dispatch(self, request: JsonObject) -> JsonObject | None:
        request_id = request.get("id")
        try:
            params = request.get("params", {})
            if not isinstance(params, dict):
                raise RpcError(INVALID_PARAMS, "params must be an object")
            result = await self._agent.handle(request["method"], params, self._notify)
        except RpcError as exc:
            reply = error(request_id, exc.code, exc.message)
        except Exception as exc:
            log.exception("agent method %r failed", request.get("method"))
            reply = error(request_id, INTERNAL_ERROR, f"internal error: {exc}")
        else:
            reply = {"jsonrpc": "2.0", "id": request_id, "result": result}
        return None if is_notification(request) else reply

    async def _notify(self, method: str, params: JsonObject) -> None:
        await self._sender.send({"jsonrpc": "2.0", "method": method, "params": params})


class Connection:
    def __init__(self, agent: Agent, read: Read, write: Write, max_frame_bytes: int) -> None:
        self._read = read
        self._max_frame_bytes = max_frame_bytes
        self._tasks = TaskSupervisor()
        self._sender = MessageSender(write, self._tasks)
        self._dispatcher = MessageDispatcher(agent, self._sender, self._tasks)

    @property
    def tasks(self) -> list[asyncio.Task[None]]:
        """The supervised tasks not yet done."""
        return list(self._tasks.tasks)

    async def listen(self) -> None:
        """The receive loop; returns when the peer's stream ends."""
        while (frame := await self._read()) is not None:
            try:
                parsed = parse(frame, self._max_frame_bytes)
            except Exception as exc:  # no frame may end the connection; say what went wrong
                log.exception("could not parse a frame")
                parsed = Parsed(errors=[error(None, INTERNAL_ERROR, f"internal error: {exc}")])
            await self._dispatcher.put(parsed)

    async def close(self) -> None:
        """Finish queued requests, flush their replies, then stop both tasks (bounded)."""
        for step in (self._dispatcher.stop, self._sender.close):
            try:
                await asyncio.wait_for(step(), CLOSE_TIMEOUT_S)
            except TimeoutError:
                break  # a stuck peer: stop the tasks below without flushing
        await self._tasks.shutdown()
