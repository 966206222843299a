"""The thread-limiter, slot-release and shared-agent hazards in process: bug, then fix."""

from __future__ import annotations

import asyncio

import anyio.to_thread
import httpx
import pytest
from stampede.server.app import create_app
from stampede.server.hazards.slot_release.hazard import MAX_PARALLEL, SlotReleaseHazard
from stampede.server.sdk.strands_shared import check_roles
from stampede.server.settings import ServerSettings


async def _client(**settings: str):  # type: ignore[no-untyped-def]
    app = create_app(ServerSettings.explicit(**settings))
    transport = httpx.ASGITransport(app=app)
    return app, httpx.AsyncClient(transport=transport, base_url="http://t", timeout=30)


def _turn(session: str) -> dict[str, str]:
    return {"session": session, "prompt": f"hi from {session}"}


async def _overlap(impl: str, n: int = 4) -> list[httpx.Response]:
    app, client = await _client(shared_agent_impl=impl)
    async with app.router.lifespan_context(app), client:
        path = "/v1/agents/a/chat"
        return list(
            await asyncio.gather(*(client.post(path, json=_turn(f"s{i}")) for i in range(n)))
        )


def test_a_shared_agent_fails_and_corrupts_when_turns_overlap() -> None:
    answers = asyncio.run(_overlap("shared"))
    failed = [r for r in answers if r.status_code == 500]
    corrupted = [
        r for r in answers if r.status_code == 200 and r.json()["history"] != 2 * r.json()["turns"]
    ]
    assert failed and corrupted, [(r.status_code, r.text) for r in answers]


def test_an_agent_per_session_answers_overlapping_turns_soundly() -> None:
    answers = asyncio.run(_overlap("per_session"))
    assert [r.status_code for r in answers] == [200] * 4
    assert all(r.json() == {**r.json(), "turns": 1, "history": 2} for r in answers)


def test_a_locked_agent_refuses_the_overlap_with_409() -> None:
    answers = asyncio.run(_overlap("locked"))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200, 409, 409, 409]
    ok = next(r for r in answers if r.status_code == 200).json()
    assert ok["history"] == 2 * ok["turns"]


def test_one_real_strands_agent_refuses_the_overlap_and_stays_sound() -> None:
    """`--shared-agent-impl strands` with the strands-agents installed here (>= 1.22.0: PR
    #1453's lock); the releases before it are stormed in tests/e2e/test_sdk_strands_shared.py."""

    async def scenario() -> tuple[list[httpx.Response], list[httpx.Response], dict]:
        app, client = await _client(shared_agent_impl="strands")
        async with app.router.lifespan_context(app), client:
            path = "/v1/agents/a/chat"
            burst = await asyncio.gather(
                *(client.post(path, json=_turn(f"s{i}")) for i in range(4))
            )
            after = [await client.post(path, json=_turn(f"t{i}")) for i in range(2)]
            status = (await client.get("/v1/status")).json()["hazards"]["shared_agent"]
        return list(burst), after, status

    burst, after, status = asyncio.run(scenario())
    assert sorted(r.status_code for r in burst) == [200, 500, 500, 500]
    assert {r.json()["kind"] for r in burst if r.status_code == 500} == {"ConcurrencyException"}
    assert [r.json()["history"] for r in after] == [4, 6]  # two messages per turn, in order
    assert [r.json()["turns"] for r in after] == [2, 3]
    assert status["counts"] == {"ConcurrencyException": 3, "ok": 3}
    assert status["sdk"].startswith("strands-agents ") and status["history"] == 6


def test_the_stub_model_refuses_a_history_out_of_turn_as_converse_does() -> None:
    def history(*roles: str) -> list[dict]:
        return [{"role": role, "content": [{"text": "x"}]} for role in roles]

    assert check_roles(history("user")) is None
    assert check_roles(history("user", "assistant", "user")) is None
    assert "alternate" in (check_roles(history("user", "user")) or "")
    assert "end with a user" in (check_roles(history("user", "assistant")) or "")
    assert check_roles([]) is not None


@pytest.mark.parametrize(("impl", "held_after"), [("release_on_return", 1), ("release_finally", 0)])
def test_a_cancelled_stream_keeps_its_slot_only_with_the_bug(impl: str, held_after: int) -> None:
    async def scenario() -> tuple[int, int]:
        hazard = SlotReleaseHazard(ServerSettings.explicit(slot_impl=impl))
        response = await hazard.limited("a", events=5, interval_ms=10)
        body = response.body_iterator
        await anext(body)
        await body.aclose()  # the client left: GeneratorExit inside the stream
        full = await hazard.limited("b", events=1, interval_ms=0)
        async for _ in full.body_iterator:
            pass
        return hazard.held, hazard.counts["slot_lost"]

    held, lost = asyncio.run(scenario())
    assert (held, lost) == (held_after, held_after)
    assert held < MAX_PARALLEL


async def _burst(impl: str, n: int) -> tuple[list[int], int, int]:
    """n concurrent builds of one key; the limiter's peak borrowed tokens and waiting tasks."""
    app, client = await _client(thread_limiter_impl=impl)
    peak = [0, 0]
    async with app.router.lifespan_context(app), client:
        limiter = anyio.to_thread.current_default_thread_limiter()

        async def watch() -> None:
            while True:
                peak[0] = max(peak[0], int(limiter.borrowed_tokens))
                peak[1] = max(peak[1], limiter.statistics().tasks_waiting)
                await asyncio.sleep(0.01)

        watcher = asyncio.create_task(watch())
        path = "/v1/agents/a/build?key=k&wait_s=2"
        answers = await asyncio.gather(*(client.get(path) for _ in range(n)))
        watcher.cancel()
    return [r.status_code for r in answers], peak[0], peak[1]


def test_sync_waiters_exhaust_the_limiter_and_async_waiters_do_not() -> None:
    codes, borrowed, waiting = asyncio.run(_burst("sync_wait", 45))
    assert borrowed == 40 and waiting > 0
    assert 504 in codes  # the waiters gave up: nothing set their Event in time
    codes, borrowed, waiting = asyncio.run(_burst("async_wait", 45))
    assert codes == [200] * 45
    assert borrowed <= 2 and waiting == 0
