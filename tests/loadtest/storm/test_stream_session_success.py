"""The stream and session users count success by the success rule (users/success.py), read
from a real loopback server: a stream dropped after k events is ok only if its status is
allowed and the k events came without a failure event; a health check's reply is judged by
`judge` (a JSON-RPC error is `jsonrpc_error`, not a bad status)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import uvicorn
from stampede.loadtest.process.processes import free_port
from stampede.loadtest.storm.users.outcomes import StormFailure, outcome_of
from stampede.loadtest.storm.users.sse_reader import StreamReader, dechunk
from stampede.loadtest.storm.users.success import SuccessRule
from stampede.loadtest.storm.users.ws_health import health_check, ws_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

AG_UI = SuccessRule(statuses=(200,), sse_done=("RUN_FINISHED",), sse_failed=("RUN_ERROR",))
STREAMS = {
    "ok": ["RUN_STARTED", "TEXT", "TEXT", "TEXT", "RUN_FINISHED"],
    "error": ["RUN_STARTED", "RUN_ERROR", "TEXT", "TEXT", "TEXT"],
    "short-error": ["RUN_STARTED", "RUN_ERROR"],
    "short-unfinished": ["RUN_STARTED", "TEXT"],
    "short-finished": ["RUN_STARTED", "RUN_FINISHED"],
}
REPLIES = {
    "result": {"jsonrpc": "2.0", "id": 1, "result": {"protocolVersion": 1}},
    "error": {"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "agent down"}},
    "wrong-id": {"jsonrpc": "2.0", "id": 7, "result": {}},
}


async def stream(request: Request) -> StreamingResponse | JSONResponse:
    name = request.path_params["name"]
    if name == "500":
        return JSONResponse({"detail": "boom"}, status_code=500)

    async def events() -> AsyncIterator[bytes]:
        for n, kind in enumerate(STREAMS[name]):
            yield f"data: {json.dumps({'type': kind, 'n': n})}\n\n".encode()

    return StreamingResponse(events(), media_type="text/event-stream")


async def session(ws: WebSocket) -> None:
    await ws.accept()
    await ws.receive_text()
    await ws.send_text(json.dumps(REPLIES[ws.path_params["name"]]))
    await ws.close()


APP = Starlette(
    routes=[
        Route("/sse/{name}", stream, methods=["GET", "POST"]),
        WebSocketRoute("/ws/{name}", session),
    ]
)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(APP, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    until = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < until:
        time.sleep(0.05)
    assert server.started, "the loopback server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def outcome(call) -> str:  # type: ignore[no-untyped-def]
    try:
        call()
    except StormFailure as exc:
        return outcome_of(exc)
    return "ok"


def test_a_stream_dropped_after_k_good_events_is_ok(url: str) -> None:
    events, received = StreamReader(url, 5.0, AG_UI).read("/sse/ok", 3)
    assert events == 3 and b"RUN_STARTED" in received


def test_a_failure_event_among_the_events_read_fails_the_drop(url: str) -> None:
    reader = StreamReader(url, 5.0, AG_UI)
    assert outcome(lambda: reader.read("/sse/error", 3)) == "sse_failed"
    # The same stream, dropped before the failure event came, is a good drop.
    assert outcome(lambda: reader.read("/sse/error", 1)) == "ok"


def test_a_5xx_stream_is_a_status_failure(url: str) -> None:
    reader = StreamReader(url, 5.0, AG_UI)
    with pytest.raises(StormFailure, match="unexpected HTTP 500") as caught:
        reader.read("/sse/500", 3)
    assert outcome_of(caught.value) == "http_error"


def test_a_stream_that_ended_itself_needs_its_terminal_event(url: str) -> None:
    reader = StreamReader(url, 5.0, AG_UI)

    def read(name: str) -> str:
        return outcome(lambda: reader.read(f"/sse/{name}", 3, "POST", ends_early=True))

    assert read("short-finished") == "ok"
    assert read("short-unfinished") == "sse_unterminated"
    assert read("short-error") == "sse_failed"


def test_the_default_rule_takes_any_2xx_stream(url: str) -> None:
    events, _ = StreamReader(url, 5.0).read("/sse/error", 3)  # no failure events named
    assert events == 3


def test_dechunk_keeps_a_partial_last_chunk() -> None:
    assert dechunk(b"5\r\nhello\r\n3\r\nwor") == b"hellowor"
    assert dechunk(b"5\r\nhello\r\n0\r\n\r\n") == b"hello"


def test_a_health_check_is_judged_by_the_rule(url: str) -> None:
    def check(name: str) -> str:
        return outcome(lambda: health_check(ws_url(url, "a", f"/ws/{name}"), 5.0))

    assert check("result") == "ok"
    assert check("error") == "jsonrpc_error"
    assert check("wrong-id") == "json_check"
