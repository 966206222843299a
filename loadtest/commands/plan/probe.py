"""One probe: a fresh, CPU-capped agent server on loopback and one bounded burst of real HTTP.

Two measurements live here, each against its own server so nothing carries over between them:

- `wedge_probe`: a primary on one agent, then D concurrent same-key duplicates fired while the
  primary's first model call runs. The answer is the server's exact wedge flag, or every
  duplicate served with the primary's body.
- `hol_probe`: for each level D, D duplicates parked on one hot agent, then a batch of unrelated
  agents' invocations; their client-side latency and the executor's busy workers meanwhile.

Everything is bounded: a hard deadline (`asyncio.timeout`) around the load, a fixed number of
requests, and a `finally` that stops the server and removes its cgroups, also when the task is
cancelled by Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from stampede.loadtest.process.caps import CapsRequest
from stampede.loadtest.process.launcher import Handle, LaunchError, launch_async, stampede_target
from stampede.loadtest.verdict.stats import percentile
from stampede.server.settings import ServerSettings

POLL_S = 0.02
READY_DEADLINE_S = 30.0  # generous: servers may start while other probes load both cores
STOP_TIMEOUT_S = 3.0  # a wedged server aborts its waiters on SIGTERM and exits well inside this
PIDS_CAP = 1024  # a runaway thread count fails loudly instead of exhausting the machine
PROBE_SLACK_S = 15.0


class ProbeError(RuntimeError):
    """A probe could not produce an answer (server did not start, deadline passed...)."""


@dataclass(frozen=True)
class ServerSpec:
    settings: ServerSettings  # its --cpus (the emulated host) sets the pool size
    cpu_cap: float  # the real CFS cap; at most what this machine has
    log_dir: Path | None = None

    @property
    def model_latency_ms(self) -> float:
        return self.settings.model_latency_ms

    @property
    def model_cycles(self) -> int:
        return self.settings.model_cycles


@dataclass
class Server:
    spec: ServerSpec
    handle: Handle
    base_url: str
    pool_size: int
    caps: dict[str, Any]


@contextlib.asynccontextmanager
async def running_server(spec: ServerSpec, name: str) -> AsyncIterator[Server]:
    """A fresh capped server, stopped (and its cgroups removed) however the block ends."""
    caps = CapsRequest(cpus=spec.cpu_cap, pids=PIDS_CAP)
    target = stampede_target(spec.settings, caps=caps, name=f"plan-{name}")
    log = spec.log_dir / f"{name}.log" if spec.log_dir else None
    try:
        handle = await launch_async(target, log_path=log, health_timeout_s=READY_DEADLINE_S)
    except LaunchError as exc:
        raise ProbeError(str(exc)) from None
    try:
        async with httpx.AsyncClient(base_url=handle.base_url, timeout=2.0) as client:
            pool = int((await _status(client))["executor"]["max_workers"])
        yield Server(spec, handle, handle.base_url, pool, handle.caps or {})
    finally:
        # Synchronous on purpose: a cancelled task must not skip the cleanup.
        handle.stop(timeout=STOP_TIMEOUT_S)


@dataclass
class Peaks:
    """Highest values seen across /v1/status polls."""

    waiters: int = 0
    busy: dict[str, int] = field(default_factory=lambda: {"model": 0, "waiter": 0, "other": 0})
    busy_total: int = 0
    queued: int = 0
    process_threads: int = 0

    def update(self, status: dict[str, Any]) -> None:
        executor = status["executor"]
        self.waiters = max(self.waiters, int(status["waiters"]))
        for kind, n in executor["busy"].items():
            self.busy[kind] = max(self.busy.get(kind, 0), int(n))
        self.busy_total = max(self.busy_total, sum(int(n) for n in executor["busy"].values()))
        self.queued = max(self.queued, int(executor["queued"]))
        self.process_threads = max(self.process_threads, int(status["process_threads"]))


def _client(url: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections + 4, max_keepalive_connections=16)
    return httpx.AsyncClient(base_url=url, limits=limits, timeout=httpx.Timeout(None))


async def _status(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/v1/status")
    response.raise_for_status()
    return response.json()


async def _invoke(client: httpx.AsyncClient, agent: str, key: str | None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await client.post(
        f"/v1/agents/{agent}/invocations", json={"prompt": "plan probe"}, headers=headers
    )


async def _poll_until(
    client: httpx.AsyncClient,
    done: Callable[[dict[str, Any]], bool],
    peaks: Peaks | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> dict[str, Any] | None:
    """Poll until done(status) (returns it) or stop() (returns None); callers bound the time."""
    while True:
        status = await _status(client)
        if peaks is not None:
            peaks.update(status)
        if done(status):
            return status
        if stop():
            return None
        await asyncio.sleep(POLL_S)


def _primary_running(status: dict[str, Any]) -> bool:
    return status["inflight_primaries"] >= 1 and status["executor"]["busy"]["model"] >= 1


async def _cancel(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _deadline_s(spec: ServerSpec, waits: int) -> float:
    # `waits` model-latency units of queueing at worst, plus a fixed slack for a busy machine.
    return spec.model_latency_ms / 1000 * spec.model_cycles * waits + PROBE_SLACK_S


async def wedge_probe(spec: ServerSpec, duplicates: int, name: str) -> dict[str, Any]:
    """Does a primary plus `duplicates` concurrent same-key duplicates wedge a fresh server?"""
    started = time.monotonic()
    async with running_server(spec, name) as server:
        async with asyncio.timeout(_deadline_s(spec, 4)):
            result = await _wedge_load(server, duplicates)
    result["elapsed_s"] = round(time.monotonic() - started, 3)
    return result


async def _wedge_load(server: Server, duplicates: int) -> dict[str, Any]:
    latency_s = server.spec.model_latency_ms / 1000
    peaks = Peaks()
    async with _client(server.base_url, duplicates) as client:
        sent = time.monotonic()
        primary = asyncio.create_task(_invoke(client, "hot", "storm"))
        tasks: list[asyncio.Task[Any]] = [primary]
        try:
            await _poll_until(client, _primary_running, peaks, stop=primary.done)
            tasks += [
                asyncio.create_task(_invoke(client, "hot", "storm")) for _ in range(duplicates)
            ]
            registered_at: float | None = None

            def track(status: dict[str, Any]) -> bool:
                nonlocal registered_at
                if registered_at is None and status["waiters"] >= duplicates:
                    registered_at = time.monotonic()
                return bool(status["wedged"])

            final = await _poll_until(
                client, track, peaks, stop=lambda: all(t.done() for t in tasks)
            )
            wedged = final is not None
            served = 0 if wedged else _served_duplicates(tasks)
        finally:
            await _cancel(tasks)
    # All duplicates waiting before the first model call could end: the arrival was concurrent.
    in_window = registered_at is not None and registered_at - sent <= latency_s
    return {
        "duplicates": duplicates,
        "wedged": wedged,
        "conclusive": wedged or (in_window and served == duplicates),
        "served": served,
        "registered_ms": None if registered_at is None else round((registered_at - sent) * 1e3, 1),
        "wedged_since": final["wedged_since"] if final else None,
        "peak_parked_workers": peaks.busy["waiter"],
        "peak_waiters": peaks.waiters,
        "peak_process_threads": peaks.process_threads,
        "pool_size": server.pool_size,
        "model_latency_ms": server.spec.model_latency_ms,
        "caps": server.caps,
    }


def _served_duplicates(tasks: list[asyncio.Task[Any]]) -> int:
    """Duplicates that got the primary's exact body (a late one would run as a new primary)."""
    primary = tasks[0].result()
    if primary.status_code != 200:
        return 0
    expected = {**primary.json(), "role": "duplicate"}
    return sum(
        1
        for task in tasks[1:]
        if not task.cancelled()
        and task.exception() is None
        and task.result().status_code == 200
        and task.result().json() == expected
    )


async def hol_probe(
    spec: ServerSpec,
    levels: list[int],
    unrelated: int,
    name: str,
    on_level: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Unrelated agents' latency with D duplicates parked on one hot agent, for each D."""
    out: dict[str, Any] = {}
    async with running_server(spec, name) as server:
        for level in levels:
            worst = server.pool_size + unrelated + 4  # serial model calls at worst
            async with asyncio.timeout(_deadline_s(spec, worst)):
                out[str(level)] = await _hol_level(server, level, unrelated)
            if on_level is not None:
                on_level(level)
    return out


async def _hol_level(server: Server, parked: int, unrelated: int) -> dict[str, Any]:
    peaks = Peaks()
    async with _client(server.base_url, parked + unrelated) as client:
        await _poll_until(client, lambda s: s["inflight_primaries"] == 0 and s["waiters"] == 0)
        hot = f"hot-{parked}"
        tasks = [asyncio.create_task(_invoke(client, hot, "storm"))]
        batch: list[asyncio.Task[float]] = []
        try:
            await _poll_until(client, _primary_running, stop=tasks[0].done)
            tasks += [asyncio.create_task(_invoke(client, hot, "storm")) for _ in range(parked)]
            await _poll_until(client, lambda s: s["waiters"] >= parked, stop=tasks[0].done)
            if tasks[0].done():
                raise ProbeError(f"hot primary finished before {parked} duplicates parked")
            batch += [
                asyncio.create_task(_timed(client, f"cold-{parked}-{i}")) for i in range(unrelated)
            ]
            await _poll_until(
                client, lambda s: False, peaks, stop=lambda: all(b.done() for b in batch)
            )
            latencies = [b.result() for b in batch]
            await asyncio.gather(*tasks)
        finally:
            # The batch too: a teardown (Ctrl-C, the server gone) must not leave its requests'
            # errors unretrieved for the loop to print at exit.
            await _cancel(tasks + batch)
    return {
        "p50": round(percentile(latencies, 50), 1),
        "p99": round(percentile(latencies, 99), 1),
        "max": round(max(latencies), 1),
        "n": len(latencies),
        "parked_workers": peaks.busy["waiter"],
        "busy_workers": peaks.busy_total,
        "queued": peaks.queued,
        "process_threads": peaks.process_threads,
    }


async def _timed(client: httpx.AsyncClient, agent: str) -> float:
    started = time.perf_counter()
    response = await _invoke(client, agent, None)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise ProbeError(f"unrelated invocation on {agent} got {response.status_code}")
    return elapsed_ms
