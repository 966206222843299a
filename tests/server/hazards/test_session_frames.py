"""Fuzzing the WebSocket session with hypothesis: no frame breaks it or moves a hazard counter.

One connection per implementation stays open through every example: deep nesting (up to
100,000 levels), binary frames, 16 MiB frames, non-object JSON, requests and batches. After
each frame a sentinel request must come back, so every frame was answered in order and the
connection is healthy; the replies must be exactly what JSON-RPC 2.0 asks for that frame. At
the end the loop-error counters and leaked tasks are what one clean session leaves.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

from tests.serverproc import ServerProcess, running_server
from tests.session_client import ws_url

MAX_SESSIONS = 3
MAX_DEPTH = 32  # server/hazards/session/frames.py
MAX_BATCH = 64
MiB = 1 << 20
SENTINEL_IDS = itertools.count()

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
ids = st.none() | st.integers(-(2**40), 2**40) | st.text(max_size=10) | st.floats() | st.booleans()
methods = st.sampled_from(["initialize", "session/new", "session/prompt", "nope", ""])
requests = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "2.0", "2.0", "1.0"]), "method": methods},
    optional={"id": ids, "params": json_values},
)
batches = st.lists(requests | json_values, min_size=0, max_size=MAX_BATCH + 3)


def nested(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    if kind == "object":
        return '{"a":' * depth + "1" + "}" * depth
    params = "[" * depth + "]" * depth
    return f'{{"jsonrpc":"2.0","id":7,"method":"initialize","params":{{"x":{params}}}}}'


frames = st.one_of(
    st.builds(nested, st.integers(1, 100_000), st.sampled_from(["list", "object", "request"])),
    st.binary(max_size=64),
    requests.map(lambda r: json.dumps(r).encode()),  # a request as a binary frame
    st.just(b"[" * (16 * MiB)),
    st.just(" " * (16 * MiB - 2) + "{}"),
    json_values.map(json.dumps),
    requests.map(json.dumps),
    batches.map(json.dumps),
    st.text(max_size=40),
)


def _valid_request(value: object) -> bool:
    if not isinstance(value, dict) or value.get("jsonrpc") != "2.0":
        return False
    if not isinstance(value.get("method"), str):
        return False
    if "params" in value and not isinstance(value["params"], dict | list):
        return False
    request_id = value.get("id")
    return not isinstance(request_id, bool) and (
        request_id is None or isinstance(request_id, str | int) or _finite(request_id)
    )


def _finite(value: object) -> bool:
    return isinstance(value, float) and value == value and abs(value) != float("inf")


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def expected_replies(frame: str | bytes) -> tuple[str, int]:
    """("error", 1) for a frame refused whole, ("one", n) for one request, ("batch", n)."""
    try:
        text = frame.decode() if isinstance(frame, bytes) else frame
        if len(text.encode()) > MiB:
            return "error", 1
        value = json.loads(text)
        too_deep = _depth(value) > MAX_DEPTH
    except (ValueError, RecursionError):  # deeper than this stack goes is too deep as well
        return "error", 1
    if too_deep:
        return "error", 1
    if isinstance(value, list):
        if not value or len(value) > MAX_BATCH:
            return "error", 1
        answered = [v for v in value if not (_valid_request(v) and "id" not in v)]
        return "batch", len(answered)
    notification = _valid_request(value) and "id" not in value
    return "one", 0 if notification else 1


def exchange(ws: ClientConnection, frame: str | bytes) -> list[Any]:
    """Send the frame, then a sentinel; every reply that came before the sentinel's."""
    sentinel = f"sentinel-{next(SENTINEL_IDS)}"
    ws.send(frame)
    ws.send(json.dumps({"jsonrpc": "2.0", "id": sentinel, "method": "initialize"}))
    replies = []
    while True:
        reply = json.loads(ws.recv(timeout=20))
        if isinstance(reply, dict) and reply.get("id") == sentinel:
            assert reply["result"]["protocolVersion"] == 1
            return replies
        if isinstance(reply, dict) and "method" in reply:
            continue  # a session/update notification
        replies.append(reply)


def check_answer(frame: str | bytes, replies: list[Any]) -> None:
    shape, count = expected_replies(frame)
    if shape == "error":
        assert len(replies) == 1 and replies[0]["id"] is None, replies
        assert replies[0]["error"]["code"] in (-32700, -32600), replies
    elif shape == "one":
        assert len(replies) == count, replies
        for reply in replies:
            assert set(reply) == {"jsonrpc", "id", "result"} or set(reply) == {
                "jsonrpc",
                "id",
                "error",
            }, reply
    else:
        assert len(replies) == (1 if count else 0), replies
        if count:
            assert isinstance(replies[0], list) and len(replies[0]) == count, replies
            assert all("result" in r or "error" in r for r in replies[0])


@pytest.fixture(scope="module")
def session_server() -> Iterator[ServerProcess]:
    # bare: the implementation whose leak a crashed agent task used to fake (issue 14).
    with running_server(
        session_impl="bare", max_sessions_per_connection=MAX_SESSIONS, gc_interval_s=0.2
    ) as server:
        yield server


@pytest.fixture(scope="module")
def session_ws(session_server: ServerProcess) -> Iterator[ClientConnection]:
    with connect(ws_url(session_server), max_size=None, open_timeout=10) as ws:
        yield ws


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frame=frames)
def test_every_frame_is_answered_and_the_connection_stays_healthy(
    session_server: ServerProcess, session_ws: ClientConnection, frame: str | bytes
) -> None:
    check_answer(frame, exchange(session_ws, frame))
    status = session_server.status()
    assert status["loop_errors"] == {}
    session = status["hazards"]["session"]
    assert session["orphaned_tasks"] == 0
    assert session["counts"].get("agent_cancelled", 0) == 0


def test_sessions_are_capped_per_connection(session_ws: ClientConnection) -> None:
    new = {"jsonrpc": "2.0", "method": "session/new", "params": {}}
    answers = [exchange(session_ws, json.dumps({**new, "id": i}))[0] for i in range(5)]
    refused = [a for a in answers if "error" in a]
    assert refused and all(a["error"]["code"] == -32000 for a in refused)
    assert "max-sessions-per-connection" in refused[0]["error"]["message"]
    assert len(answers) - len(refused) <= MAX_SESSIONS


def test_after_the_fuzz_the_hazard_counts_are_those_of_one_clean_session(
    session_server: ServerProcess, session_ws: ClientConnection
) -> None:
    session_ws.close()
    closed = session_server.wait_for(lambda s: s["hazards"]["session"]["counts"].get("closed"))
    assert closed["hazards"]["session"]["counts"]["agent_cancelled"] == 1
    passes = closed["gc"]["passes"]
    after_gc = session_server.wait_for(lambda s: s["gc"]["passes"] >= passes + 2)
    # bare leaks its one connection's sender and dispatcher: the hazard itself, and no more.
    assert after_gc["loop_errors"] == {"task_destroyed_pending": 2}
    assert "Traceback" not in session_server.log()
