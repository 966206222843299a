"""The detector: real asyncio reports and real ASGI exceptions, each counted once by kind."""

from __future__ import annotations

import asyncio
import gc
from collections import Counter

import anyio
import httpx
import pytest
from stampede.probe.loop_errors import CountAsgiErrors, Detector, classify, install
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

pytestmark = pytest.mark.timeout(30)

CROSS_TASK = "Attempted to exit cancel scope in a different task than it was entered in"


def test_classify_kinds() -> None:
    assert classify("Task exception was never retrieved", RuntimeError(CROSS_TASK)) == (
        "cancel_scope"
    )
    group = ExceptionGroup("teardown", [ValueError("x"), RuntimeError(CROSS_TASK)])
    assert classify("Exception in callback", group) == "cancel_scope"
    assert classify("Task was destroyed but it is pending!", None) == "task_destroyed_pending"
    assert classify("Task exception was never retrieved", ValueError()) == (
        "task_exception_never_retrieved"
    )
    assert classify("Exception in callback foo()", ValueError()) == "other"


def test_detector_counts_each_exception_once_wherever_it_surfaces() -> None:
    counts: Counter[str] = Counter()
    detector = Detector(lambda kind: counts.update([kind]))
    error = RuntimeError(CROSS_TASK)
    detector.asgi_error(error)
    assert detector.report("Task exception was never retrieved", error) is None
    detector.asgi_error(ExceptionGroup("wrapped", [error]))
    assert counts == {"cancel_scope": 1}

    detector.report("Task exception was never retrieved", RuntimeError(CROSS_TASK))
    detector.asgi_error(ValueError("an ordinary 500 is not a loop error"))
    for _ in range(3):  # reports without an exception object are separate occurrences
        detector.report("Task was destroyed but it is pending!", None)
    assert counts == {"cancel_scope": 2, "task_destroyed_pending": 3}


def run_with_detector(scenario) -> Counter[str]:
    counts: Counter[str] = Counter()

    async def main() -> None:
        install(asyncio.get_running_loop(), Detector(lambda kind: counts.update([kind])))
        await scenario()
        gc.collect()
        await asyncio.sleep(0.05)

    asyncio.run(main())
    return counts


def test_installed_handler_counts_real_loop_reports() -> None:
    async def never_retrieved() -> None:
        async def fail() -> None:
            raise ValueError("nobody awaits me")

        task = asyncio.create_task(fail())
        await asyncio.sleep(0.01)
        del task

    async def destroyed_pending() -> None:
        class Holder:
            pass

        async def wait(holder: Holder) -> None:
            await holder.future  # type: ignore[attr-defined]

        holder = Holder()
        holder.future = asyncio.get_running_loop().create_future()  # type: ignore[attr-defined]
        holder.task = asyncio.create_task(wait(holder))  # type: ignore[attr-defined]
        await asyncio.sleep(0.01)
        del holder  # only the cycle holds the pending task now

    async def cross_task_cancel_scope() -> None:
        scope = anyio.CancelScope()

        async def enter() -> None:
            scope.__enter__()

        await asyncio.create_task(enter())

        async def exit_elsewhere() -> None:
            scope.__exit__(None, None, None)

        task = asyncio.create_task(exit_elsewhere())
        await asyncio.sleep(0.01)
        del task

    assert run_with_detector(never_retrieved) == {"task_exception_never_retrieved": 1}
    assert run_with_detector(destroyed_pending) == {"task_destroyed_pending": 1}
    assert run_with_detector(cross_task_cancel_scope) == {"cancel_scope": 1}


def test_asgi_middleware_counts_hazard_errors_and_reraises() -> None:
    async def teardown_error(request: Request) -> PlainTextResponse:
        raise RuntimeError(CROSS_TASK)

    async def ordinary_error(request: Request) -> PlainTextResponse:
        raise ValueError("bug")

    counts: Counter[str] = Counter()
    app = Starlette(
        routes=[Route("/hazard", teardown_error), Route("/bug", ordinary_error)],
    )
    app.add_middleware(CountAsgiErrors, detector=Detector(lambda kind: counts.update([kind])))

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            with pytest.raises(RuntimeError, match="different task"):
                await client.get("/hazard")
            with pytest.raises(ValueError):
                await client.get("/bug")

    asyncio.run(main())
    assert counts == {"cancel_scope": 1}
