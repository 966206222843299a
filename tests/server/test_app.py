"""Invocation semantics over real HTTP: timeouts, errors, conflicts, bad input, metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.serverproc import running_server

PROMPT = {"prompt": "hello"}


async def _post(client: httpx.AsyncClient, agent: str, key: str | None, delay: float = 0.0):
    await asyncio.sleep(delay)
    headers = {"Idempotency-Key": key} if key else {}
    return await client.post(f"/v1/agents/{agent}/invocations", json=PROMPT, headers=headers)


def _metric(url: str, name: str, **labels: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise AssertionError(f"{name}{labels} not exported")


def _mid(url: str) -> dict[str, float]:
    return {
        "orphaned": _metric(url, "stampede_orphaned_waiter_workers"),
        "parked": _metric(url, "stampede_executor_busy_workers", kind="waiter"),
        "waiting": _metric(url, "stampede_idempotency_waiters"),
    }


async def _until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `check()` (in a thread: it reads /metrics) until it holds, for up to `timeout`."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def test_timed_out_duplicate_leaves_others_served(waiter: str) -> None:
    # The primary's model call takes 5 s; a duplicate waits at most 3 s. The early duplicate
    # goes in as soon as the primary is waited on, so it times out first (at 3 s); the late one
    # goes in 2.2 s after, so its wait outlasts the primary. Each step waits for the server's
    # own figures (not a fixed sleep); the late one may arrive up to 0.8 s late, and the
    # figures in between are read in the 2 s between the early one's timeout and the answer.
    with running_server(waiter=waiter, executor_workers=4, model_latency_ms=5000, model_cycles=1,
                        duplicate_timeout_s=3.0) as server:  # fmt: skip
        waiting = "stampede_idempotency_waiters"

        async def scenario() -> dict:
            async with httpx.AsyncClient(base_url=server.url, timeout=15) as client:
                primary = asyncio.create_task(_post(client, "a", "k"))
                busy = "stampede_executor_busy_workers"
                assert await _until(lambda: _metric(server.url, busy, kind="model") == 1)
                started = time.monotonic()
                early = asyncio.create_task(_post(client, "a", "k"))
                assert await _until(lambda: _metric(server.url, waiting) == 1)
                await asyncio.sleep(max(0.0, 2.2 - (time.monotonic() - started)))
                late = asyncio.create_task(_post(client, "a", "k"))
                assert await _until(lambda: _metric(server.url, waiting) == 2)
                early_response = await early
                # The early duplicate gave up; with to_thread its worker is still parked. One
                # reading of all three figures, taken once the early one has left.
                mid: dict[str, float] = {}

                def after_early() -> bool:
                    mid.update(_mid(server.url))
                    return mid["waiting"] == 1

                assert await _until(after_early), mid
                return {
                    "early": early_response,
                    "late": await late,
                    "primary": await primary,
                    "mid": mid,
                }

        result = asyncio.run(scenario())
        assert result["early"].status_code == 504
        assert result["early"].json()["error"] == "duplicate_timeout"
        assert result["late"].status_code == 200
        assert result["late"].json() == {**result["primary"].json(), "role": "duplicate"}
        if waiter == "to_thread":
            assert result["mid"] == {"orphaned": 1.0, "parked": 2.0, "waiting": 1.0}
        else:
            assert result["mid"] == {"orphaned": 0.0, "parked": 0.0, "waiting": 1.0}
        # The orphaned worker is freed once the primary's result lands.
        settled = asyncio.run(
            _until(lambda: _mid(server.url) == dict.fromkeys(_mid(server.url), 0))
        )
        assert settled, _mid(server.url)
        assert _metric(server.url, "stampede_invocations_total", role="duplicate",
                       outcome="timeout") == 1  # fmt: skip


def test_failing_primary_error_reaches_duplicates_and_conflicts_get_409() -> None:
    with running_server(waiter="future", model_latency_ms=400, model_cycles=1,
                        model_error_rate=1.0) as server:  # fmt: skip

        async def scenario() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
                return await asyncio.gather(
                    _post(client, "a", "k"),
                    _post(client, "a", "k", delay=0.1),
                    _post(client, "a", "k", delay=0.1),
                    _post(client, "a", "other", delay=0.1),
                    _post(client, "a", None, delay=0.1),
                )

        primary, dup1, dup2, other_key, no_key = asyncio.run(scenario())
        assert primary.status_code == 429
        assert "ThrottlingException" in primary.json()["message"]
        for dup in (dup1, dup2):
            assert (dup.status_code, dup.json()) == (primary.status_code, primary.json())
        for conflict in (other_key, no_key):
            assert conflict.status_code == 409
            assert conflict.json()["agent_id"] == "a"
            assert "'a'" in conflict.json()["message"]


def test_keys_are_not_cached_after_completion() -> None:
    with running_server(model_latency_ms=50, model_cycles=1) as server:
        first = httpx.post(f"{server.url}/v1/agents/a/invocations", json=PROMPT,
                           headers={"Idempotency-Key": "k"}, timeout=5)  # fmt: skip
        second = httpx.post(f"{server.url}/v1/agents/a/invocations", json=PROMPT,
                            headers={"Idempotency-Key": "k"}, timeout=5)  # fmt: skip
        assert first.json()["role"] == second.json()["role"] == "primary"
        assert first.json()["started_at"] != second.json()["started_at"]


BAD_REQUESTS = [
    ("post", "/v1/agents/a/invocations", {"content": b"{not json",
     "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
    ("post", "/v1/agents/a/invocations", {"json": {}}, 422, "prompt"),
    ("post", "/v1/agents/a/invocations", {"json": {"prompt": ""}}, 422, "prompt"),
    ("post", "/v1/agents/a/invocations", {"json": {"prompt": "x" * 10_001}}, 422, "prompt"),
    ("post", "/v1/agents/a/invocations", {"json": {"prompt": 5}}, 422, "prompt"),
    ("post", "/v1/agents/a/invocations", {"json": ["prompt"]}, 422, "JSON object"),
    ("post", "/v1/agents/a/invocations",
     {"json": PROMPT, "headers": {"Idempotency-Key": "k" * 256}}, 400, "Idempotency-Key"),
    ("post", "/v1/agents/a/invocations",
     {"json": PROMPT, "headers": {"Idempotency-Key": b"caf\xc3\xa9"}}, 400, "Idempotency-Key"),
    ("post", "/v1/agents/a/invocations",
     {"json": PROMPT, "headers": {"Idempotency-Key": ""}}, 400, "Idempotency-Key"),
    ("post", "/v1/agents/bad%20id/invocations", {"json": PROMPT}, 422, "agent_id"),
    ("post", f"/v1/agents/{'a' * 200}/invocations", {"json": PROMPT}, 422, "agent_id"),
    ("get", "/v1/agents/a/invocations", {}, 405, "GET"),
    ("get", "/no/such/route", {}, 404, "/no/such/route"),
]  # fmt: skip


def test_bad_input_gets_a_clear_4xx() -> None:
    with running_server(model_latency_ms=10, model_cycles=1) as server:
        for method, path, kwargs, status, needle in BAD_REQUESTS:
            response = httpx.request(method, f"{server.url}{path}", timeout=5, **kwargs)
            assert response.status_code == status, (path, kwargs, response.text)
            body = response.json()
            assert set(body) >= {"error", "message"}
            assert needle in body["message"], (needle, body)
        assert "Traceback" not in server.log()


CONTRACT = [
    "stampede_build_info", "stampede_executor_max_workers", "stampede_executor_busy_workers",
    "stampede_executor_queued_items", "stampede_process_threads", "stampede_event_loop_tasks",
    "stampede_event_loop_lag_seconds", "stampede_idempotency_waiters",
    "stampede_inflight_primaries", "stampede_invocations", "stampede_invocation_duration_seconds",
    "stampede_model_calls", "stampede_model_call_duration_seconds", "stampede_wedged",
    "stampede_loop_errors", "process_resident_memory_bytes", "process_open_fds",
    "stampede_orphaned_waiter_workers", "stampede_stalled", "stampede_event_loop_tasks_by_name",
]  # fmt: skip


def test_metrics_parse_and_carry_the_contract() -> None:
    with running_server(waiter="future", cpus=3, model_latency_ms=10, model_cycles=2) as server:
        httpx.post(f"{server.url}/v1/agents/a/invocations", json=PROMPT, timeout=5)
        families = {
            f.name: f
            for f in text_string_to_metric_families(httpx.get(f"{server.url}/metrics").text)
        }
        missing = [name for name in CONTRACT if name not in families]
        assert not missing
        info = families["stampede_build_info"].samples[0]
        assert info.labels["waiter"] == "future" and info.value == 1
        assert families["stampede_executor_max_workers"].samples[0].value == 7  # min(32, 3 + 4)
        kinds = {s.labels["kind"] for s in families["stampede_executor_busy_workers"].samples}
        assert kinds == {"model", "waiter", "other"}
        errors = {s.labels["kind"] for s in families["stampede_loop_errors"].samples}
        assert {"task_exception_never_retrieved", "task_destroyed_pending", "cancel_scope",
                "other"} <= errors  # fmt: skip
        assert _metric(server.url, "stampede_model_calls_total") == 2
        assert _metric(server.url, "stampede_invocations_total", role="primary", outcome="ok") == 1


def test_wedged_server_stops_within_five_seconds_of_sigterm() -> None:
    with running_server(waiter="to_thread", executor_workers=2, model_latency_ms=200,
                        model_cycles=2) as server:  # fmt: skip

        async def wedge() -> None:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                tasks = [asyncio.create_task(_post(client, "a", "k", delay=i * 0.02))
                         for i in range(3)]  # fmt: skip
                for _ in range(60):
                    if (await client.get("/v1/status")).json()["wedged"]:
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise AssertionError("server never wedged")
                took = await asyncio.to_thread(server.stop, 10.0)
                assert took < 5.0
                answers = await asyncio.gather(*tasks, return_exceptions=True)
                # Held requests are answered "aborted" (or cut) rather than left hanging.
                for answer in answers:
                    if isinstance(answer, httpx.Response):
                        assert answer.status_code == 503, answer.text

        asyncio.run(wedge())
        # uvicorn re-raises the captured SIGTERM once shut down, as a well-behaved server should.
        assert server.proc.returncode in (0, -15)
        assert "Application shutdown complete" in server.log()
        assert "shutdown aborted 1 in-flight invocation" in server.log()


def test_stall_signal_rises_and_clears() -> None:
    with running_server(model_latency_ms=2500, model_cycles=1, stall_seconds=1) as server:

        async def scenario() -> tuple[bool, bool, bool]:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
                request = asyncio.create_task(_post(client, "slow", "k"))
                await asyncio.sleep(0.5)
                early = (await client.get("/v1/status")).json()["stalled"]
                await asyncio.sleep(1.2)
                during = (await client.get("/v1/status")).json()["stalled"]
                assert (await request).status_code == 200
                await asyncio.sleep(0.3)
                after = (await client.get("/v1/status")).json()["stalled"]
                return early, during, after

        assert asyncio.run(scenario()) == (False, True, False)
        assert "STALLED: 1 request(s) in flight" in server.log()
