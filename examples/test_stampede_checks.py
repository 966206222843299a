"""Suite-wide checks: `pytest --stampede examples/test_stampede_checks.py`.

With `--stampede` (or `[tool.stampede.pytest] enabled = true`) every test is checked for what
it leaves behind. The healthy test passes either way. Each hazardous test passes under plain
pytest, which is the trouble with them; under `--stampede` it fails with its evidence, which
its `xfail(strict=True)` expects, so this module passes both ways and shows the findings with
`-rx`.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

CAUGHT = pytest.mark.xfail("config.getoption('stampede')", strict=True, reason="stampede")
POOL = min(32, (os.cpu_count() or 1) + 4)  # CPython's default executor size
KEEP: set[asyncio.Task] = set()


@pytest.mark.asyncio
async def test_healthy() -> None:
    assert await asyncio.to_thread(sum, [1, 2]) == 3
    await asyncio.create_task(asyncio.sleep(0.01))


@CAUGHT
@pytest.mark.asyncio
async def test_leaves_a_task_pending() -> None:
    KEEP.add(asyncio.create_task(asyncio.sleep(30), name="forgotten"))  # [tasks]


@CAUGHT
@pytest.mark.asyncio
async def test_blocks_the_loop() -> None:
    time.sleep(0.5)  # [blocking]: a sync call in a coroutine


@CAUGHT
@pytest.mark.asyncio
async def test_wedges_the_default_executor() -> None:
    # [wedge]: every worker waits for an event that only queued work would set; the test
    # survives on the waits' timeout, the wedge lasted 1.5 s.
    done = threading.Event()
    waits = [asyncio.to_thread(done.wait, 1.5) for _ in range(POOL)]
    work = asyncio.to_thread(done.set)
    await asyncio.gather(*waits, work)


@CAUGHT
def test_leaves_a_thread_running() -> None:
    threading.Thread(target=time.sleep, args=(2,), daemon=True).start()  # [threads]
