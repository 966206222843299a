"""Every SSE stream ends by --stream-max-duration-s, and ending one is never counted as the hazard.

Over HTTP: events x interval is cut to fit (`X-Stream-Events`). In process: a client that stops
reading is cut off at the deadline, with the buggy anyio_taskgroup Query closed in its own task.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from stampede.server.hazards.stream.hazard import EventStreamResponse, fit_to_duration, relay
from stampede.server.hazards.stream.query import Script, query

from tests.serverproc import running_server


@pytest.mark.parametrize(
    ("asked", "fitted"),
    [
        ((10_000, 60.0, 0.5), (1, 0.5)),
        ((1_000, 0.1, 0.5), (5, 0.1)),
        ((3, 0.1, 0.5), (3, 0.1)),
        ((10_000, 0.0, 0.5), (10_000, 0.0)),
    ],
)
def test_fit_to_duration(asked: tuple[int, float, float], fitted: tuple[int, float]) -> None:
    events, interval_s = fit_to_duration(*asked)
    assert (events, interval_s) == fitted
    assert events * interval_s <= asked[2]


def test_a_days_long_stream_is_cut_to_the_maximum_duration() -> None:
    with running_server(stream_impl="anyio_taskgroup", stream_max_duration_s=0.5) as server:
        for query_string, events in [("events=10000&interval_ms=60000", 1), ("events=1000", 5)]:
            started = time.monotonic()
            url = f"{server.url}/v1/agents/a/stream?{query_string}"
            response = httpx.get(url, timeout=10)
            took = time.monotonic() - started
            assert response.status_code == 200
            assert response.headers["x-stream-events"] == str(events)
            assert response.text.count("\ndata: ") == events
            assert "event: result" in response.text
            assert took < 0.5 + 1.0, took  # the plan fits 0.5 s; one second of slack
        status = server.status()
        assert status["loop_errors"] == {}
        assert status["hazards"]["stream"]["counts"]["completed"] == 2


def test_a_client_that_stops_reading_is_cut_off_at_the_deadline() -> None:
    async def scenario() -> tuple[float, Counter[str], Script, list[dict[str, Any]]]:
        reports: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: reports.append(ctx))
        counts: Counter[str] = Counter()
        script = Script(agent_id="a", events=1000, interval_s=0.01)
        messages = query("anyio_taskgroup", script)
        response = EventStreamResponse(
            relay(messages, None, counts),
            counts,
            deadline_s=0.3,
            close_source=messages.aclose,
            headers={},
        )
        bodies = 0
        stuck = asyncio.Event()

        async def send(message: dict[str, Any]) -> None:
            nonlocal bodies
            if message["type"] == "http.response.body":
                bodies += 1
                if bodies >= 3:  # the client's window is full: it reads no more
                    await stuck.wait()

        async def receive() -> dict[str, Any]:
            await stuck.wait()  # never disconnects
            return {"type": "http.disconnect"}

        started = time.monotonic()
        scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
        await response(scope, receive, send)
        took = time.monotonic() - started
        gc.collect()
        await asyncio.sleep(0.05)
        return took, counts, script, reports

    took, counts, script, reports = asyncio.run(scenario())
    assert counts["deadline"] == 1
    assert 0.3 <= took < 0.3 + 1.5, took  # the deadline, then at most the grace to end
    assert script.running == 0, "the query's reader or children outlived the stream"
    assert reports == []  # closed in its own task: no cancel-scope error, no leaked task
