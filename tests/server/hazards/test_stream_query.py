"""The Query objects directly, under asyncio and trio (anyio's pytest plugin).

The owner_task fix must behave the same on both backends: a full stream in order, a close()
from a task other than the one that ran start(), and the seed's pattern — `break` out of the
`query()` generator and leave it to the async-generator finalizer, which closes it elsewhere.
The buggy anyio_taskgroup pattern fails the cross-task close (asyncio only: on trio a cross-task
exit corrupts the run itself), which is what makes these tests able to fail.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from stampede.server.hazards.stream.query import Script, make_query, query

pytestmark = pytest.mark.timeout(30)

EVENTS = 12
FAST = 0.002


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def loop_reports(anyio_backend: str, caplog: pytest.LogCaptureFixture) -> Iterator[list[Any]]:
    """What the backend reports instead of raising: asyncio's handler, trio's asyncgen log."""
    reports: list[Any] = []
    caplog.set_level(logging.WARNING, logger="trio.async_generator_errors")
    yield reports
    reports.extend(r.getMessage() for r in caplog.records if r.name.startswith("trio"))


def capture_asyncio_reports(reports: list[Any]) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    loop.set_exception_handler(lambda loop, context: reports.append(context))


async def wait_stopped(script: Script, timeout: float = 2.0) -> None:
    with anyio.fail_after(timeout):
        while script.running:
            await anyio.sleep(0.005)


@pytest.mark.anyio
async def test_owner_task_streams_every_event_in_order(loop_reports: list[Any]) -> None:
    capture_asyncio_reports(loop_reports)
    script = Script("a", events=EVENTS, interval_s=FAST)
    messages = [message async for message in query("owner_task", script)]
    assert [m["index"] for m in messages] == list(range(EVENTS))
    assert [m["type"] for m in messages] == ["assistant"] * (EVENTS - 1) + ["result"]
    assert script.running == 0
    assert loop_reports == []


@pytest.mark.anyio
async def test_owner_task_closes_from_another_task(loop_reports: list[Any]) -> None:
    capture_asyncio_reports(loop_reports)
    script = Script("a", events=EVENTS, interval_s=FAST)
    q = make_query("owner_task", script)
    await q.start()
    seen = 0
    async for _ in q.receive():
        seen += 1
        if seen == 2:
            break
    assert script.running >= 1
    outcome: list[str] = []

    async def closer() -> None:
        await q.close()
        outcome.append("closed")

    async with anyio.create_task_group() as tg:
        tg.start_soon(closer)
    assert outcome == ["closed"]
    await wait_stopped(script)
    assert loop_reports == []


@pytest.mark.anyio
async def test_owner_task_survives_abandoned_generator(loop_reports: list[Any]) -> None:
    """The seed's consumer: break out of `async for`, no aclosing; the finalizer closes it."""
    capture_asyncio_reports(loop_reports)
    for _ in range(20):
        script = Script("a", events=EVENTS, interval_s=FAST)
        messages = query("owner_task", script)
        async for message in messages:
            if message["index"] == 1:
                break
        del messages
        gc.collect()
        await wait_stopped(script)
    await anyio.sleep(0.05)
    assert loop_reports == []


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("impl", ["anyio_taskgroup", "asyncio_tasks", "owner_task"])
async def test_cross_task_close_on_asyncio(impl: str, anyio_backend: str) -> None:
    """start() and reading in one task, close() in another, as the finalizer does."""
    script = Script("a", events=EVENTS, interval_s=FAST)
    q = make_query(impl, script)

    async def consume() -> None:  # the host task; it ends before close() runs
        await q.start()
        async for message in q.receive():
            if message["index"] == 1:
                return

    await asyncio.create_task(consume())
    error: BaseException | None = None
    try:
        await asyncio.create_task(q.close())
    except RuntimeError as exc:
        error = exc
    if impl == "anyio_taskgroup":
        assert error is not None
        assert "cancel scope in a different task" in str(error)
    else:
        assert error is None
        await wait_stopped(script)
