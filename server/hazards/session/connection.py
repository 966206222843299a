"""A small JSON-RPC 2.0 agent connection shaped like ACP's (seed 003).

Concurrency model: `Connection.__init__` registers two long-lived tasks with a TaskSupervisor —
the sender (drains an outbound queue into `write`) and the dispatcher (takes requests off an
inbound queue, calls the agent, queues the reply). `listen()` is the receive loop in the
caller's task: it reads frames until `read` returns None. Only `close()` stops the two
supervised tasks; a caller cancelled inside listen() that never calls close() orphans them,
and since nothing but their own reference cycle holds them, gc later destroys them while still
pending ("Task was destroyed but it is pending!").
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

log = logging.getLogger("stampede.session")

Read = Callable[[], Awaitable[str | None]]
Write = Callable[[str], Awaitable[None]]
JsonObject = dict[str, Any]
Notify = Callable[[str, JsonObject], None]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
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
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.task = tasks.spawn(self._loop(), name="session.sender")

    def send(self, message: JsonObject) -> None:
        self._queue.put_nowait(json.dumps(message, separators=(",", ":")))

    async def _loop(self) -> None:
        while (frame := await self._queue.get()) is not None:
            try:
                await self._write(frame)
            except Exception as exc:  # the peer is gone; replies have nowhere to go
                log.debug("send failed: %r", exc)
                return

    def close(self) -> None:
        """Stop after the replies already queued."""
        self._queue.put_nowait(None)


class MessageDispatcher:
    def __init__(self, agent: Agent, sender: MessageSender, tasks: TaskSupervisor) -> None:
        self._agent = agent
        self._sender = sender
        self._queue: asyncio.Queue[JsonObject | None] = asyncio.Queue()
        self.task = tasks.spawn(self._run(), name="session.dispatcher")

    def put(self, message: JsonObject) -> None:
        self._queue.put_nowait(message)

    def stop(self) -> None:
        """Stop after the requests already queued."""
        self._queue.put_nowait(None)

    async def _run(self) -> None:
        while (message := await self._queue.get()) is not None:
            await self._dispatch(message)

    async def _dispatch(self, message: JsonObject) -> None:
        request_id = message.get("id")
        try:
            params = message.get("params") or {}
            if not isinstance(params, dict):
                raise RpcError(INVALID_PARAMS, "params must be an object")
            result = await self._agent.handle(message["method"], params, self._notify)
        except RpcError as exc:
            self._reply_error(request_id, exc.code, exc.message)
        except Exception as exc:
            log.exception("agent method %r failed", message.get("method"))
            self._reply_error(request_id, INTERNAL_ERROR, f"internal error: {exc}")
        else:
            if request_id is not None:
                self._sender.send({"jsonrpc": "2.0", "id": request_id, "result": result})

    def _notify(self, method: str, params: JsonObject) -> None:
        self._sender.send({"jsonrpc": "2.0", "method": method, "params": params})

    def _reply_error(self, request_id: object, code: int, message: str) -> None:
        if request_id is not None:
            error = {"code": code, "message": message}
            self._sender.send({"jsonrpc": "2.0", "id": request_id, "error": error})


class Connection:
    def __init__(self, agent: Agent, read: Read, write: Write) -> None:
        self._read = read
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
            self._receive(frame)

    def _receive(self, frame: str) -> None:
        try:
            message = json.loads(frame)
        except ValueError:
            self._sender.send(_error(None, PARSE_ERROR, "frame is not valid JSON"))
            return
        problem = _check_request(message)
        if problem:
            request_id = message.get("id") if isinstance(message, dict) else None
            self._sender.send(_error(request_id, INVALID_REQUEST, problem))
            return
        self._dispatcher.put(message)

    async def close(self) -> None:
        """Finish queued requests, flush their replies, then stop both tasks (bounded)."""
        self._dispatcher.stop()
        await asyncio.wait([self._dispatcher.task], timeout=CLOSE_TIMEOUT_S)
        self._sender.close()
        await asyncio.wait([self._sender.task], timeout=CLOSE_TIMEOUT_S)
        await self._tasks.shutdown()


def _check_request(message: object) -> str | None:
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return 'a JSON-RPC 2.0 message is an object with "jsonrpc": "2.0"'
    if not isinstance(message.get("method"), str):
        return 'a request needs a string "method"'
    if "id" in message and not isinstance(message["id"], str | int):
        return '"id" must be a string or an integer'
    return None


def _error(request_id: object, code: int, message: str) -> JsonObject:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
