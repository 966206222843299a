"""The loop-block, spin and state-leak hazards of the built-in server, in process.

Each buggy implementation must show its mechanism and each fix must not: the inline tool holds
the loop's thread for the whole call, the wrong-task scope keeps delivering after the answer
(counted in loop iterations, not time), and kept sessions stay while reaped ones go. Requests
go through the real app over httpx's ASGI transport, in one event loop.
"""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from fastapi import FastAPI
from stampede.server.hazards.loop_block import hazard as loop_block
from stampede.server.hazards.loop_block.hazard import LoopBlockHazard
from stampede.server.hazards.spin.hazard import SpinHazard
from stampede.server.hazards.spin.scope import DeliveringScope
from stampede.server.hazards.state_leak.hazard import StateLeakHazard
from stampede.server.settings import ServerSettings


def client_for(hazard: object) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(hazard.router)  # type: ignore[attr-defined]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.mark.parametrize(("impl", "on_loop"), [("inline", True), ("to_thread", False)])
def test_the_inline_tool_runs_on_the_loops_thread(
    impl: str, on_loop: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[int] = []

    def tool(agent_id: str, ms: float) -> dict[str, object]:
        threads.append(threading.get_ident())
        return {"agent_id": agent_id}

    monkeypatch.setattr(loop_block, "blocking_tool", tool)
    hazard = LoopBlockHazard(ServerSettings(tool_impl=impl))

    async def main() -> int:
        async with client_for(hazard) as client:
            response = await client.post("/v1/agents/a/tool", params={"ms": 0})
            assert response.status_code == 200, response.text
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert (threads == [loop_thread]) is on_loop, (threads, loop_thread)
    assert hazard.counts["calls"] == 1


def test_a_scope_exited_in_the_wrong_task_keeps_delivering() -> None:
    async def main(owner_exits: bool) -> tuple[int, int]:
        scope = DeliveringScope()

        async def tool() -> None:
            scope.enter()
            try:
                await asyncio.sleep(10)
            finally:
                if owner_exits:
                    scope.exit()

        task = asyncio.create_task(tool())
        await asyncio.sleep(0)
        scope.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        if not owner_exits:
            scope.exit()
        before = scope.deliveries
        for _ in range(200):  # loop iterations, not time
            await asyncio.sleep(0)
        return before, scope.deliveries

    before, after = asyncio.run(main(owner_exits=False))
    assert after - before >= 150  # about one delivery per loop iteration, forever
    before, after = asyncio.run(main(owner_exits=True))
    assert after == before  # the delivery found nothing held and stopped


@pytest.mark.parametrize("impl", ["wrong_task", "owner_task"])
def test_every_call_is_cancelled_and_answered(impl: str) -> None:
    hazard = SpinHazard(ServerSettings(cancel_impl=impl))

    async def main() -> list[dict[str, object]]:
        async with client_for(hazard) as client:
            params = {"tool_ms": 1000, "deadline_ms": 1}
            responses = [await client.post("/v1/agents/a/cancel", params=params) for _ in range(3)]
        return [r.json() for r in responses]

    assert [body["cancelled"] for body in asyncio.run(main())] == [True, True, True]
    assert hazard.counts["cancelled"] == 3


@pytest.mark.parametrize(("impl", "kept"), [("kept", 5), ("reaped", 0)])
def test_sessions_left_without_delete_are_kept_or_reaped(impl: str, kept: int) -> None:
    hazard = StateLeakHazard(ServerSettings(session_store=impl))

    async def main() -> int:
        async with client_for(hazard) as client:
            ids = []
            for _ in range(6):
                response = await client.post("/v1/sessions")
                assert response.status_code == 200
                ids.append(response.headers["Mcp-Session-Id"])
            assert (await client.delete(f"/v1/sessions/{ids[0]}")).status_code == 204
            # The reaper's state, not a clock: wait until it ran past the idle timeout.
            for _ in range(200):  # bounded: a reaper that never runs fails below
                if impl != "reaped" or not hazard.sessions:
                    break
                await asyncio.sleep(0.05)
            live = len(hazard.sessions)
            tasks = [s.task for s in hazard.sessions.values()]
            assert all(not t.done() for t in tasks)
            for s in list(hazard.sessions.values()):
                s.closed.set()
            await hazard.aclose()
        return live

    assert asyncio.run(main()) == kept
    assert hazard.counts["opened"] == 6 and hazard.counts["deleted"] == 1
