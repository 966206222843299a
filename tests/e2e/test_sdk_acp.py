"""`--session-impl acp`: the WebSocket session bridged to the real `acp.run_agent`, per release.

Each release runs in its own cached venv (loadtest/targets/sdk_envs.py), the server started with
that venv's python. The seed-003 health checker (open, initialize, close) makes the bridge cancel
`run_agent`: 0.8.1 never closes its connection, so 2 tasks per check stay pending until gc
destroys them; 0.12.1 (fixed in 0.11.0) closes it and leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from stampede.loadtest.targets.sdk_envs import ensure_env, parse_spec, server_command
from websockets.asyncio.client import connect

from tests.serverproc import ServerProcess, free_port, running_server
from tests.session_client import INITIALIZE, IO_TIMEOUT_S, call, health_checks, ws_url

# First use builds each venv (about 15 s with a warm pip cache, under a minute from PyPI).
pytestmark = pytest.mark.timeout(300)

CHECKS = 100
LEAKY, FIXED = "agent-client-protocol==0.8.1", "agent-client-protocol==0.12.1"


@pytest.fixture(scope="module")
def envs() -> dict[str, Path]:
    return {spec: ensure_env(parse_spec(spec), print) for spec in (LEAKY, FIXED)}


def env_server(python: Path, **settings: object) -> AbstractContextManager[ServerProcess]:
    """`stampede serve` run by a variant env's interpreter, on a free loopback port."""
    return running_server(python, **settings)


# gc by timer only, slow enough that the checks fit between two passes: they take about 1 s,
# and over 3 s at times with two busy processes beside the suite.
GC_INTERVAL_S = 6
TIMER_GC = {"gc_mode": "timer", "gc_interval_s": GC_INTERVAL_S}


def after_gc_pass(server: ServerProcess, status: dict) -> dict:
    wait = 2 * status["gc"]["interval_s"] + 5
    return server.wait_for(lambda s: s["gc"]["passes"] > status["gc"]["passes"], timeout=wait)


def tasks_by_name(server: ServerProcess) -> dict[str, float]:
    text = httpx.get(f"{server.url}/metrics", timeout=5).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = families["stampede_event_loop_tasks_by_name"].samples
    return {sample.labels["name"]: sample.value for sample in samples}


def destroyed_pending(status: dict) -> int:
    return status["loop_errors"].get("task_destroyed_pending", 0)


def storm(server: ServerProcess) -> tuple[int, dict, dict[str, float], dict]:
    """Baseline task count; status and live tasks by name right after the checks; status
    after the next gc pass."""
    start = after_gc_pass(server, server.status())
    replies = asyncio.run(health_checks(server, CHECKS))
    assert replies == [{"jsonrpc": "2.0", "id": 1, "result": {"protocolVersion": 1}}] * CHECKS
    grown = server.status()
    names = tasks_by_name(server)
    assert server.status()["gc"]["passes"] == start["gc"]["passes"], "a gc pass ran mid-run"
    return start["event_loop_tasks"], grown, names, after_gc_pass(server, grown)


def test_acp_0_8_1_leaks_two_tasks_per_check(envs: dict[str, Path]) -> None:
    with env_server(envs[LEAKY], session_impl="acp", **TIMER_GC) as server:
        baseline, grown, names, collected = storm(server)
        session = grown["hazards"]["session"]
        assert session["sdk"] == "agent-client-protocol 0.8.1"
        assert session["counts"]["agent_cancelled"] == CHECKS
        assert grown["event_loop_tasks"] - baseline == 2 * CHECKS
        assert names["acp.Sender.loop"] == names["acp.Dispatcher.loop"] == CHECKS
        assert session["orphaned_tasks"] == 2 * CHECKS
        assert destroyed_pending(grown) == 0
        # gc destroys them while pending; acp also logs each torn-down task on the root logger.
        assert destroyed_pending(collected) == 2 * CHECKS, collected["loop_errors"]
        assert collected["hazards"]["session"]["counts"]["acp_logged_errors"] == 2 * CHECKS
        assert collected["event_loop_tasks"] == baseline


def test_acp_0_12_1_leaves_nothing_behind(envs: dict[str, Path]) -> None:
    with env_server(envs[FIXED], session_impl="acp", **TIMER_GC) as server:
        baseline, grown, names, collected = storm(server)
        assert not any(name.startswith("acp.") for name in names)
        session = collected["hazards"]["session"]
        assert session["sdk"] == "agent-client-protocol 0.12.1"
        assert session["counts"]["agent_cancelled"] == CHECKS
        assert grown["event_loop_tasks"] == baseline
        assert collected["event_loop_tasks"] == baseline
        assert session["orphaned_tasks"] == 0 and session["live_acp_tasks"] == 0
        assert collected["loop_errors"] == {}
        assert "acp_logged_errors" not in session["counts"]


def test_acp_prompt_streams_session_updates(envs: dict[str, Path]) -> None:
    async def conversation(server: ServerProcess) -> list[dict[str, Any]]:
        async with connect(ws_url(server), open_timeout=IO_TIMEOUT_S) as ws:
            await call(ws, INITIALIZE)
            new = {"cwd": "/", "mcpServers": []}
            created = await call(ws, {"jsonrpc": "2.0", "id": 2, "method": "session/new",
                                      "params": new})  # fmt: skip
            session_id = created["result"]["sessionId"]
            prompt = {"sessionId": session_id, "prompt": [{"type": "text", "text": "hi"}]}
            # Pretty-printed: the bridge must keep one message one NDJSON line.
            request = {"jsonrpc": "2.0", "id": 3, "method": "session/prompt", "params": prompt}
            await ws.send(json.dumps(request, indent=2))
            frames = [json.loads(await ws.recv()) for _ in range(4)]
            bad = {"sessionId": "nope", "prompt": [{"type": "text", "text": "hi"}]}
            frames.append(await call(ws, {"jsonrpc": "2.0", "id": 4, "method": "session/prompt",
                                          "params": bad}))  # fmt: skip
            frames.append(await call(ws, {"jsonrpc": "2.0", "id": 5, "method": "nope"}))
            return frames

    with env_server(envs[FIXED], session_impl="acp") as server:
        *updates, answer, unknown_session, unknown_method = asyncio.run(conversation(server))
    texts = [u["params"]["update"]["content"]["text"] for u in updates]
    assert texts == [f"chunk {i} of 3 from agent-1" for i in (1, 2, 3)]
    assert all(u["method"] == "session/update" for u in updates)
    assert answer == {"jsonrpc": "2.0", "id": 3, "result": {"stopReason": "end_turn"}}
    assert unknown_session["error"]["code"] == -32602
    assert unknown_method["error"]["code"] == -32601


def test_missing_sdk_is_a_one_line_error(envs: dict[str, Path]) -> None:
    # The acp env has no strands-agents: asking for it is a usage error, not a traceback.
    argv = [*server_command(envs[FIXED]), "--agent", "strands", "--port", str(free_port())]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "--agent strands needs strands-agents, which is not installed" in lines[0]
