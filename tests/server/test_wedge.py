"""The to_thread waiter wedges at exactly the pool size; the future waiter never does."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import psutil
import pytest

from tests.serverproc import running_server

PROMPT = {"prompt": "what is the weather?"}


async def _post(client: httpx.AsyncClient, agent: str, key: str | None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await client.post(f"/v1/agents/{agent}/invocations", json=PROMPT, headers=headers)


async def _wait_for(client: httpx.AsyncClient, field: str, deadline_s: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        status = (await client.get("/v1/status")).json()
        if status[field]:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    return None


async def _primary_plus_duplicates(url: str, duplicates: int, wait_s: float) -> dict:
    limits = httpx.Limits(max_connections=duplicates + 10)
    async with httpx.AsyncClient(base_url=url, timeout=wait_s + 5, limits=limits) as client:
        sent_wall = time.time()
        primary = asyncio.create_task(_post(client, "hot", "token-1"))
        await asyncio.sleep(0.05)
        dups = [asyncio.create_task(_post(client, "hot", "token-1")) for _ in range(duplicates)]
        sent = time.monotonic()
        done, pending = await asyncio.wait([primary, *dups], timeout=wait_s)
        wedged_after = await _wait_for(client, "wedged", 0.1)
        status = (await client.get("/v1/status")).json()
        for task in pending:
            task.cancel()
        return {
            "primary": primary.result() if primary in done else None,
            "duplicates": [t.result() for t in dups if t in done],
            "pending": len(pending),
            "status": status,
            "since_sent": time.monotonic() - sent,
            "sent_wall": sent_wall,
            "wedged_after": wedged_after,
        }


@pytest.mark.parametrize("workers", [2, 4, 6])
def test_to_thread_wedges_at_pool_size(workers: int) -> None:
    latency_ms = 300
    with running_server(waiter="to_thread", executor_workers=workers, model_latency_ms=latency_ms,
                        model_cycles=2) as server:  # fmt: skip
        result = asyncio.run(_primary_plus_duplicates(server.url, workers, wait_s=2.5))
        status = result["status"]
        assert status["wedged"] is True
        assert result["pending"] == workers + 1, "nothing may complete once wedged"
        assert status["executor"]["busy"] == {"model": 0, "waiter": workers, "other": 0}
        assert status["executor"]["queued_by_kind"]["model"] == 1
        # The cycle closes when the primary's first model call ends: not flagged before that,
        # and flagged within 1 s after.
        flagged_after = status["wedged_since"] - result["sent_wall"]
        assert latency_ms / 1000 - 0.05 <= flagged_after < latency_ms / 1000 + 1.0
        log = server.log()
        assert log.count("WEDGED: all") == 1
        # The stack dump shows the parked workers blocked in the waiter's event.wait().
        assert log.count("in _park") == workers
        metrics = httpx.get(f"{server.url}/metrics").text
        assert "stampede_wedged 1.0" in metrics


@pytest.mark.parametrize("workers", [2, 4, 6])
def test_to_thread_completes_below_pool_size(workers: int) -> None:
    with running_server(waiter="to_thread", executor_workers=workers, model_latency_ms=300,
                        model_cycles=2) as server:  # fmt: skip
        result = asyncio.run(_primary_plus_duplicates(server.url, workers - 1, wait_s=5))
        assert result["pending"] == 0
        assert result["status"]["wedged"] is False
        primary = result["primary"].json()
        assert primary["role"] == "primary" and primary["model_calls"] == 2
        for response in result["duplicates"]:
            assert response.status_code == 200
            assert response.json() == {**primary, "role": "duplicate"}


async def _raw_post(url: str, key: str, sent: asyncio.Event) -> tuple[int, dict]:
    """One invocation over its own socket, as bytes: a thousand of these go out in well under
    a second even on a busy machine (httpx takes seconds for as many), so every duplicate is
    in before the primary's answer. `sent` is set once the request is written."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps(PROMPT).encode()
    head = (f"POST /v1/agents/hot/invocations HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Idempotency-Key: {key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")  # fmt: skip
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head.encode() + body)
        await writer.drain()
        sent.set()
        answer = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


async def _thousand(url: str, duplicates: int, wait_s: float) -> dict:
    async with asyncio.timeout(wait_s):
        primary_sent = asyncio.Event()
        primary = asyncio.create_task(_raw_post(url, "token-1", primary_sent))
        await primary_sent.wait()
        await asyncio.sleep(0.05)
        events = [asyncio.Event() for _ in range(duplicates)]
        dups = [asyncio.create_task(_raw_post(url, "token-1", e)) for e in events]
        for event in events:
            await event.wait()
        sent = time.monotonic()
        answers = await asyncio.gather(primary, *dups)
        return {"primary": answers[0], "duplicates": answers[1:], "since_sent": sent}


def test_future_waiter_serves_a_thousand_duplicates_without_threads() -> None:
    workers, duplicates = 4, 1000
    with running_server(waiter="future", executor_workers=workers, model_latency_ms=2500,
                        model_cycles=2) as server:  # fmt: skip
        proc = psutil.Process(server.proc.pid)
        baseline = proc.num_threads()
        peak = {"threads": baseline, "waiters": 0}
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak["threads"] = max(peak["threads"], proc.num_threads())
                waiters = httpx.get(f"{server.url}/v1/status", timeout=5).json()["waiters"]
                peak["waiters"] = max(peak["waiters"], waiters)
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            result = asyncio.run(_thousand(server.url, duplicates, wait_s=60))
        finally:
            stop.set()
            sampler.join(5)
        status, primary = result["primary"]
        assert status == 200 and primary["role"] == "primary"
        assert len(result["duplicates"]) == duplicates
        for status, answer in result["duplicates"]:
            assert status == 200
            assert answer == {**primary, "role": "duplicate"}
        assert peak["threads"] <= baseline + workers + 2
        assert peak["waiters"] >= 0.9 * duplicates
        status = server.status()
        assert status["waiters"] == 0
        assert status["wedged"] is False
        assert status["executor"]["busy"]["waiter"] == 0
