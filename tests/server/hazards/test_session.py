"""The WebSocket session endpoint on a real `stampede serve` process, with real clients.

The health-checker pattern from seed 003 — open, `initialize`, close — makes the bridge cancel
the agent task. `bare` orphans the connection's sender and dispatcher (2 tasks per check) until
gc destroys them while pending; `closing` leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.serverproc import ServerProcess, running_server
from tests.session_client import INITIALIZE, IO_TIMEOUT_S, call, health_checks, ws_url

pytestmark = pytest.mark.timeout(90)


def next_gc_pass(server: ServerProcess, after: int = 1) -> dict:
    passes = server.status()["gc"]["passes"]
    wait = (after + 1) * server.status()["gc"]["interval_s"] + 5
    return server.wait_for(lambda s: s["gc"]["passes"] >= passes + after, timeout=wait)


def destroyed_pending(status: dict) -> int:
    return status["loop_errors"].get("task_destroyed_pending", 0)


def test_bare_leaks_two_tasks_per_check_until_gc_destroys_them() -> None:
    # Timer-only gc, slow enough that the 200 checks fit between two passes: they take about
    # 1 s (3 s once at a load average of 10).
    with running_server(session_impl="bare", gc_mode="timer", gc_interval_s=6) as server:
        start = next_gc_pass(server)
        baseline = start["event_loop_tasks"]
        replies = asyncio.run(health_checks(server, 200))
        assert all(r["id"] == 1 and r["result"]["protocolVersion"] == 1 for r in replies)
        grown = server.status()
        assert grown["gc"]["passes"] == start["gc"]["passes"], "a gc pass ran mid-run"
        per_check = (grown["event_loop_tasks"] - baseline) / 200
        assert 1.9 <= per_check <= 2.1, per_check
        session = grown["hazards"]["session"]
        assert session["counts"]["agent_cancelled"] == 200
        assert 380 <= session["orphaned_tasks"] <= 400
        assert destroyed_pending(grown) == 0

        collected = server.wait_for(lambda s: s["gc"]["passes"] > grown["gc"]["passes"], timeout=15)
        assert 380 <= destroyed_pending(collected) <= 400, collected["loop_errors"]
        assert collected["event_loop_tasks"] == baseline
        assert collected["hazards"]["session"]["orphaned_tasks"] == 0
        assert "Task was destroyed but it is pending!" in server.log()
        assert "session.sender" in server.log()


def test_closing_returns_to_baseline_with_no_reports_over_1000_checks() -> None:
    with running_server(session_impl="closing") as server:
        baseline = next_gc_pass(server)["event_loop_tasks"]
        replies = asyncio.run(health_checks(server, 1000))
        assert all(r["id"] == 1 and r["result"]["protocolVersion"] == 1 for r in replies)
        status = next_gc_pass(server, after=2)
        assert status["loop_errors"] == {}, status["loop_errors"]
        assert status["event_loop_tasks"] == baseline
        session = status["hazards"]["session"]
        assert session["impl"] == "closing"
        assert session["counts"]["opened"] == 1000
        assert session["orphaned_tasks"] == 0


def test_protocol_prompt_streams_updates_and_errors_are_json_rpc() -> None:
    async def scenario(server: ServerProcess) -> None:
        async with connect(ws_url(server), open_timeout=IO_TIMEOUT_S) as ws:
            assert (await call(ws, INITIALIZE))["result"]["agentInfo"]["name"]
            new = await call(ws, {"jsonrpc": "2.0", "id": 2, "method": "session/new"})
            session_id = new["result"]["sessionId"]
            prompt = {"sessionId": session_id, "prompt": [{"type": "text", "text": "hi"}]}
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "session/prompt",
                                      "params": prompt}))  # fmt: skip
            frames = [json.loads(await ws.recv()) for _ in range(4)]
            updates, final = frames[:3], frames[3]
            assert all(f["method"] == "session/update" for f in updates)
            assert all(f["params"]["sessionId"] == session_id for f in updates)
            assert final == {"jsonrpc": "2.0", "id": 3, "result": {"stopReason": "end_turn"}}

            await ws.send("{not json")
            assert json.loads(await ws.recv())["error"]["code"] == -32700
            unknown = await call(ws, {"jsonrpc": "2.0", "id": 4, "method": "nope"})
            assert unknown["error"]["code"] == -32601
            bad = {"sessionId": "missing", "prompt": [{"type": "text", "text": "x"}]}
            reply = await call(ws, {"jsonrpc": "2.0", "id": 5, "method": "session/prompt",
                                    "params": bad})  # fmt: skip
            assert reply["error"]["code"] == -32602
            assert (await call(ws, {"id": 6, "method": "x"}))["error"]["code"] == -32600
        with pytest.raises(InvalidStatus):
            async with connect(ws_url(server, "%20bad"), open_timeout=IO_TIMEOUT_S):
                pass

    with running_server(session_impl="closing") as server:
        asyncio.run(scenario(server))
        assert server.status()["loop_errors"] == {}
