"""`stampede serve --agent strands`: a real strands.Agent per agent id, stormed over HTTP.

strands-agents as released waits duplicates on a future (no thread per waiter); with the
seed's pre-fix waiter swapped in, the same real SDK wedges at exactly the pool size.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import threading
import time
from typing import Any

import httpx
import psutil
import pytest

from tests.serverproc import ServerProcess, running_server

pytestmark = pytest.mark.timeout(90)

PROMPT = {"prompt": "what is the weather?"}
STRANDS = importlib.metadata.version("strands-agents")


def post(client: httpx.AsyncClient, agent: str, key: str | None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(f"/v1/agents/{agent}/invocations", json=PROMPT, headers=headers)


async def storm(url: str, duplicates: int, wait_s: float) -> dict[str, Any]:
    """One primary, then `duplicates` retries of its key while it runs."""
    limits = httpx.Limits(max_connections=duplicates + 10)
    async with httpx.AsyncClient(base_url=url, timeout=wait_s + 10, limits=limits) as client:
        primary = asyncio.create_task(post(client, "hot", "key-1"))
        await asyncio.sleep(0.1)  # the primary's model call is under way
        dups = [asyncio.create_task(post(client, "hot", "key-1")) for _ in range(duplicates)]
        done, pending = await asyncio.wait([primary, *dups], timeout=wait_s)
        status = (await client.get("/v1/status")).json()
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    return {
        "primary": primary.result() if primary in done else None,
        "duplicates": [task.result() for task in dups if task in done],
        "pending": len(pending),
        "status": status,
    }


def sample_peaks(server: ServerProcess, stop: threading.Event, peaks: dict[str, int]) -> None:
    proc = psutil.Process(server.proc.pid)
    while not stop.is_set():
        status = server.status()
        peaks["threads"] = max(peaks["threads"], proc.num_threads())
        peaks["waiters"] = max(peaks["waiters"], status["waiters"])
        peaks["parked"] = max(peaks["parked"], status["executor"]["busy"]["waiter"])
        time.sleep(0.05)


def test_strands_as_released_shares_the_primary_answer_without_threads() -> None:
    workers, duplicates = 4, 200
    with running_server(agent="strands", waiter="future", executor_workers=workers,
                        model_latency_ms=1500, model_cycles=2) as server:  # fmt: skip
        warm = httpx.post(f"{server.url}/v1/agents/hot/invocations", json=PROMPT, timeout=10)
        assert warm.status_code == 200 and warm.json()["model_calls"] == 2
        status = server.status()
        assert status["agent"] == f"strands-agents {STRANDS}"
        baseline = psutil.Process(server.proc.pid).num_threads()
        peaks = {"threads": baseline, "waiters": 0, "parked": 0}
        stop = threading.Event()
        sampler = threading.Thread(target=sample_peaks, args=(server, stop, peaks), daemon=True)
        sampler.start()
        try:
            result = asyncio.run(storm(server.url, duplicates, wait_s=20))
        finally:
            stop.set()
            sampler.join(5)
        assert result["pending"] == 0
        primary = result["primary"].json()
        assert primary["role"] == "primary" and primary["model_calls"] == 2
        assert primary["text"] == warm.json()["text"]
        assert len(result["duplicates"]) == duplicates
        for response in result["duplicates"]:
            assert response.status_code == 200
            assert response.json() == {**primary, "role": "duplicate"}
        # Waiting duplicates hold no thread: only the pool's model workers may be added.
        assert peaks["threads"] - baseline <= workers, peaks
        assert peaks["parked"] == 0
        assert peaks["waiters"] >= 0.9 * duplicates
        after = server.status()
        assert after["waiters"] == 0 and after["wedged"] is False
        metrics = httpx.get(f"{server.url}/metrics").text
        assert f'agent="strands-agents {STRANDS}"' in metrics


def test_prefix_waiter_completes_below_the_pool_size() -> None:
    workers = 4
    with running_server(agent="strands", waiter="to_thread", executor_workers=workers,
                        model_latency_ms=300, model_cycles=2) as server:  # fmt: skip
        assert server.status()["agent"] == f"strands-agents {STRANDS} with pre-fix waiter"
        result = asyncio.run(storm(server.url, workers - 1, wait_s=5))
        assert result["pending"] == 0
        assert result["status"]["wedged"] is False
        primary = result["primary"].json()
        assert primary["model_calls"] == 2
        assert [r.json() for r in result["duplicates"]] == [{**primary, "role": "duplicate"}] * 3


def test_prefix_waiter_wedges_at_the_pool_size_and_still_shuts_down() -> None:
    workers = 4
    with running_server(agent="strands", waiter="to_thread", executor_workers=workers,
                        model_latency_ms=300, model_cycles=2) as server:  # fmt: skip
        result = asyncio.run(storm(server.url, workers, wait_s=2.5))
        status = result["status"]
        assert status["wedged"] is True
        assert result["pending"] == workers + 1, "nothing may complete once wedged"
        assert status["executor"]["busy"] == {"model": 0, "waiter": workers, "other": 0}
        # The primary's second model call (after the tool) is the item that cannot start.
        assert status["executor"]["queued_by_kind"]["model"] == 1
        assert status["waiters"] == workers and status["inflight_primaries"] == 1
        assert server.log().count("WEDGED: all") == 1
        assert "stampede_wedged 1.0" in httpx.get(f"{server.url}/metrics").text
        assert server.stop() < 5.0


def test_shutdown_answers_parked_duplicates_with_a_clear_error() -> None:
    workers = 4
    with running_server(agent="strands", waiter="to_thread", executor_workers=workers,
                        model_latency_ms=300, model_cycles=2) as server:  # fmt: skip

        async def wedge_then_stop() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=server.url, timeout=15) as client:
                primary = asyncio.create_task(post(client, "hot", "key-1"))
                await asyncio.sleep(0.1)
                dups = [asyncio.create_task(post(client, "hot", "key-1")) for _ in range(workers)]
                while not (await client.get("/v1/status")).json()["wedged"]:
                    await asyncio.sleep(0.05)
                stopping = asyncio.create_task(asyncio.to_thread(server.stop))
                answers = await asyncio.gather(primary, *dups)
                assert await stopping < 5.0
                return answers

        primary, *dups = asyncio.run(wedge_then_stop())
        assert primary.status_code == 503 and primary.json()["error"] == "aborted"
        for response in dups:
            assert response.status_code == 503
            body = response.json()
            assert body["error"] == "aborted" and body["agent_id"] == "hot"
            assert "IdempotencyAbortedError" in body["message"]


def test_conflicts_timeouts_and_orphans() -> None:
    with running_server(agent="strands", waiter="to_thread", executor_workers=6,
                        model_latency_ms=800, duplicate_timeout_s=0.3) as server:  # fmt: skip

        async def scenario() -> tuple[list[httpx.Response], dict[str, Any], dict[str, Any]]:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
                primary = asyncio.create_task(post(client, "a", "key-1"))
                await asyncio.sleep(0.1)
                others = [post(client, "a", "key-2"), post(client, "a", None)]
                dups = [post(client, "a", "key-1") for _ in range(2)]
                answers = await asyncio.gather(*others, *dups)
                mid = (await client.get("/v1/status")).json()  # timed-out waiters still parked
                answers.append(await primary)
                return answers, mid, (await client.get("/v1/status")).json()

        (other_key, no_key, *timeouts, primary), mid, end = asyncio.run(scenario())
        assert primary.status_code == 200
        for response, which in ((other_key, "with a different key"), (no_key, "without")):
            assert response.status_code == 409
            body = response.json()
            assert body["error"] == "conflict" and body["agent_id"] == "a"
            assert which in body["message"] and "already processing" in body["message"]
        for response in timeouts:
            assert response.status_code == 504 and response.json()["error"] == "duplicate_timeout"
        assert mid["orphaned_waiter_workers"] == 2
        # The primary's answer can reach the client a moment before its settle wakes the parked
        # workers' event.wait; they must all be back within a bounded time, not instantly.
        end = server.wait_for(
            lambda s: s["orphaned_waiter_workers"] == 0 and s["executor"]["busy"]["waiter"] == 0,
            timeout=5.0,
        )
        assert end["orphaned_waiter_workers"] == 0 and end["executor"]["busy"]["waiter"] == 0
        assert end["inflight_primaries"] == 0 and end["waiters"] == 0
