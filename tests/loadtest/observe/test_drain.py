"""A user's server drains before its leftovers count: requests still finishing are waited for,
and a count that stays put above the start is what is left."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest
import stampede.probe
import uvicorn
from fastapi import FastAPI
from stampede.loadtest.observe.server_http import drain_tasks, scrape_server

from tests.serverproc import free_port


@pytest.fixture
def probed_server() -> Iterator[tuple[str, FastAPI]]:
    app = FastAPI()
    app.state.held = []
    stampede.probe.install(app)

    @app.post("/finish-soon")
    async def finish_soon() -> dict[str, str]:
        await asyncio.sleep(1.0)
        return {"ok": "yes"}

    @app.post("/leak")
    async def leak() -> dict[str, str]:
        app.state.held.append(asyncio.get_running_loop().create_task(asyncio.sleep(60)))
        return {"ok": "yes"}

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    while not server.started:
        thread.join(0.05)
    yield url, app
    server.should_exit = True
    thread.join(10)


def test_requests_still_finishing_are_waited_for_and_a_leak_stays(probed_server) -> None:
    url, _ = probed_server
    start = scrape_server(url)["event_loop_tasks"]

    with httpx.Client(base_url=url, timeout=5) as client:
        for _ in range(3):
            client.post("/leak")
    for _ in range(4):  # in flight when the "storm" stops; they end within a second
        threading.Thread(target=httpx.post, args=(f"{url}/finish-soon",), daemon=True).start()
    while scrape_server(url).get("event_loop_tasks", 0) < start + 3 + 4:
        threading.Event().wait(0.05)
    final, settled = drain_tasks(url, start, scrape_server(url), wait_s=10)
    assert settled is True
    assert final["event_loop_tasks"] - start == 3  # the leaked ones, not the finished ones
