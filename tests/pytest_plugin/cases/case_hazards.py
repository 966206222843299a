"""Five tests that each hide one concurrency hazard, and a healthy control: all six pass under
plain pytest. tests/pytest_plugin/test_side_by_side.py runs them under pyleak, blockbuster and
`pytest --stampede` and counts who catches what.

The file is named case_*.py so that the project's own suite does not collect it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time

import anyio
import pytest

pytestmark = pytest.mark.asyncio

# Enough duplicates to fill CPython's default executor: min(32, cpus + 4) workers.
POOL = min(32, (os.cpu_count() or 1) + 4)
WAIT_S = 2.0  # a duplicate gives up on the primary after this long


def model(text: str) -> str:
    time.sleep(0.05)  # a blocking client to the model provider
    return text + "!"


class Cache:
    """An idempotency cache: a duplicate of an in-flight key waits for the primary's answer
    with `to_thread(event.wait)`, one default-executor worker each."""

    def __init__(self) -> None:
        self.inflight: dict[str, dict] = {}

    async def invoke(self, key: str) -> str:
        entry = self.inflight.get(key)
        if entry is not None:
            done = await asyncio.to_thread(entry["done"].wait, WAIT_S)
            return entry["answer"] if done else "retry-later"
        entry = self.inflight[key] = {"done": threading.Event(), "answer": None}
        try:
            text = key
            for _ in range(2):
                text = await asyncio.to_thread(model, text)
            entry["answer"] = text
            return text
        finally:
            entry["done"].set()
            del self.inflight[key]


async def test_to_thread_wedge() -> None:
    # The duplicates take every worker; the primary's second model call queues behind them
    # and waits until their waits time out: a wedge the test survives only by the timeout.
    cache = Cache()
    answers = await asyncio.gather(*(cache.invoke("k") for _ in range(POOL + 1)))
    assert answers[0] == "k!!"
    assert set(answers) <= {"k!!", "retry-later"}


BACKGROUND: set[asyncio.Task] = set()


async def test_leaked_task() -> None:
    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(0.05)

    task = asyncio.get_running_loop().create_task(heartbeat(), name="heartbeat")
    BACKGROUND.add(task)  # kept, never awaited, never cancelled
    await asyncio.sleep(0.01)


async def test_blocking_call_in_a_coroutine() -> None:
    time.sleep(0.5)  # a synchronous client called from async code


async def events():
    with anyio.CancelScope():
        yield "first"
        yield "second"


async def test_cross_task_cancel_scope() -> None:
    async for event in events():
        assert event == "first"
        break  # the client went away: the loop closes the generator later, in another task
    await asyncio.sleep(0.05)


class Session:
    def __init__(self) -> None:
        self.updates: asyncio.Queue[str] = asyncio.Queue()
        self.reader: asyncio.Task | None = None

    async def open(self) -> None:
        self.reader = asyncio.create_task(self._read(), name="session-reader")

    async def _read(self) -> None:
        while True:
            await self.updates.get()

    async def close(self) -> None:
        assert self.reader is not None
        self.reader.cancel()


async def prompt(session: Session) -> None:
    await session.open()
    await asyncio.sleep(10)  # the model's turn
    await session.close()  # never reached when the prompt is cancelled


async def test_cancelled_session_leaks() -> None:
    session = Session()
    turn = asyncio.create_task(prompt(session))
    await asyncio.sleep(0.02)
    turn.cancel()  # the client cancelled the prompt
    with contextlib.suppress(asyncio.CancelledError):
        await turn
    assert turn.cancelled()


async def test_healthy_control() -> None:
    assert await asyncio.to_thread(model, "k") == "k!"
    await asyncio.create_task(asyncio.sleep(0.01))
    async with anyio.create_task_group() as group:
        group.start_soon(anyio.sleep, 0.01)
    worker = threading.Thread(target=time.sleep, args=(0.01,))
    worker.start()
    await asyncio.to_thread(worker.join)  # joined off the loop
