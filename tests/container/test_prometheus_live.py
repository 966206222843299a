"""Every dashboard query against a real Prometheus scraping real servers during a storm.

One module-scoped stack: one `stampede serve` process per waiter, the Debian
Prometheus binary scraping them every second with the repo's prometheus.yml rewritten to
loopback ports, and the real locustfile headless exporting client-side metrics. A short
seeded storm of duplicates and conflicts runs against each, then a wedge-shaped burst
(primary + more duplicates than workers) wedges to_thread, not future or batched. Then every
PromQL expression of every dashboard is evaluated through the HTTP API for each variant.
Everything binds 127.0.0.1 and is torn down whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.container import prom_helpers as ph
from tests.serverproc import ServerProcess, free_port, start_server

pytestmark = pytest.mark.timeout(120)

LOCUSTFILE = ph.REPO / "loadtest" / "storm" / "locustfile.py"
WORKERS = 4  # small pool: the wedge burst needs WORKERS + 1 duplicates
SERVER_SETTINGS = {
    "executor_workers": WORKERS,
    "model_latency_ms": 100,
    "model_cycles": 2,
    "duplicate_timeout_s": 1.0,  # the burst's to_thread duplicates give up: 504 + orphans
    "stall_seconds": 30,
}
RATE_INTERVAL = "5s"  # what $__rate_interval is with a 1 s scrape interval (4 x scrape, rounded)


# --- processes ------------------------------------------------------------------------------------
def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until(check: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if check():
                return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text(errors='replace')}")


def prometheus_config(
    servers: dict[str, ServerProcess], locust_port: int | None, port: int
) -> dict[str, Any]:
    """The repo's prometheus.yml with its compose targets swapped for loopback ports, so the
    labels the dashboards rely on (`variant`) come from the real config."""
    config = yaml.safe_load(ph.PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    jobs = []
    for job in config["scrape_configs"]:
        statics = []
        for static in job["static_configs"]:
            labels = static.get("labels", {})
            if "variant" in labels:
                host = servers[labels["variant"]].url.removeprefix("http://")
                statics.append({"targets": [host], "labels": labels})
            elif job["job_name"] == "locust" and locust_port and not statics:
                statics.append({"targets": [f"127.0.0.1:{locust_port}"], "labels": labels})
            elif job["job_name"] == "prometheus":
                statics.append({"targets": [f"127.0.0.1:{port}"]})
        if statics:
            jobs.append({**job, "static_configs": statics})
    return {**config, "scrape_configs": jobs}


def start_prometheus(config: dict[str, Any], port: int, workdir: Path) -> subprocess.Popen[bytes]:
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = workdir / "prometheus.log"
    argv = [
        ph.require_tool("prometheus"),
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1h",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    url = f"http://127.0.0.1:{port}/-/ready"
    try:
        wait_until(lambda: httpx.get(url, timeout=1).status_code == 200, 20, "Prometheus", log)
    except BaseException:
        stop_process(proc)
        raise
    return proc


def start_locust(
    servers: dict[str, ServerProcess], port: int, workdir: Path
) -> subprocess.Popen[bytes]:
    """Real locustfile, headless, no run time (stopped at teardown), gentle load: one user
    per variant with one duplicate per request, so it cannot wedge the pool by itself."""
    targets = ",".join(f"{variant}={server.url}" for variant, server in servers.items())
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        # One user per variant: users split evenly between the targets.
        f"--users={len(servers)}",
        f"--spawn-rate={len(servers)}",
        f"--targets={targets}",
        "--duplicates=2",
        "--agents=16",
        "--client-timeout=5",
        "--retry-policy=none",
        "--max-retries=0",
        "--seed=7",
        f"--prometheus-port={port}",
        "--only-summary",
        # The locustfile also holds the stream and session users; this storm is the waiter's.
        "IdempotencyStormUser",
    ]
    log = workdir / "locust.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "STAMPEDE_"))}
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ph.REPO, env=env)
    url = f"http://127.0.0.1:{port}/metrics"

    def exporting() -> bool:
        # The locustfile exists, so exporting client metrics is part of its contract: an
        # exit (say, an unknown --prometheus-port) fails the test rather than skipping.
        assert proc.poll() is None, f"Locust exited:\n{log.read_text(errors='replace')}"
        text = httpx.get(url, timeout=1).text
        return all(f'variant="{variant}"' in text for variant in servers)

    try:
        wait_until(exporting, 30, "Locust client metrics", log)
    except BaseException:
        stop_process(proc)
        raise
    return proc


# --- the storm ------------------------------------------------------------------------------------
async def invoke(client: httpx.AsyncClient, url: str, agent: str, key: str) -> int | None:
    try:
        response = await client.post(
            f"{url}/v1/agents/{agent}/invocations",
            json={"prompt": f"storm {agent} {key}"},
            headers={"Idempotency-Key": key},
        )
    except httpx.TimeoutException:
        return None  # a wedged primary never answers; that is the point
    return response.status_code


async def round_trip(client: httpx.AsyncClient, url: str, agent: str, key: str) -> list:
    """A primary, its duplicate (same key) and a conflicting retry (another key)."""
    primary = asyncio.create_task(invoke(client, url, agent, key))
    await asyncio.sleep(0.02)  # let the primary register first
    rest = [invoke(client, url, agent, key), invoke(client, url, agent, key + "-other")]
    return [await primary, *await asyncio.gather(*rest)]


async def burst(client: httpx.AsyncClient, url: str) -> list:
    """Primary + WORKERS + 1 duplicates: enough to park every to_thread worker while the
    primary's second model call queues behind them (the wedge)."""
    primary = asyncio.create_task(invoke(client, url, "live-burst", "burst"))
    await asyncio.sleep(0.02)
    duplicates = [invoke(client, url, "live-burst", "burst") for _ in range(WORKERS + 1)]
    return [await primary, *await asyncio.gather(*duplicates)]


async def storm(servers: dict[str, ServerProcess]) -> dict[str, list]:
    async with httpx.AsyncClient(timeout=3.0) as client:
        statuses: dict[str, list] = {variant: [] for variant in servers}

        async def drive(variant: str, url: str) -> None:
            for i in range(4):
                statuses[variant] += await round_trip(client, url, f"live-{i}", f"k{i}")
            statuses[variant] += await burst(client, url)

        await asyncio.gather(*(drive(v, s.url) for v, s in servers.items()))
    return statuses


# --- Prometheus API -------------------------------------------------------------------------------
@dataclass
class Prometheus:
    url: str
    start: float  # storm start: range queries look at the whole storm, like a panel would

    def _get(self, path: str, **params: Any) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}{path}", params=params, timeout=10)
        body = response.json()
        assert body.get("status") == "success", f"{params}: {body}"
        return body["data"]["result"] if isinstance(body["data"], dict) else body["data"]

    def instant(self, expr: str) -> list[dict[str, Any]]:
        return self._get("/api/v1/query", query=expr)

    def range(self, expr: str) -> list[dict[str, Any]]:
        return self._get(
            "/api/v1/query_range", query=expr, start=self.start, end=time.time(), step="1s"
        )

    def label_values(self, label: str, match: str) -> list[str]:
        return self._get(f"/api/v1/label/{label}/values", **{"match[]": match})


def finite_values(result: list[dict[str, Any]]) -> list[float]:
    samples = [v for series in result for v in series.get("values", [series.get("value")])]
    return [float(v) for _, v in samples if math.isfinite(float(v))]


@dataclass
class Stack:
    prom: Prometheus
    statuses: dict[str, list]
    locust: bool


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with contextlib.ExitStack() as cleanup, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        servers: dict[str, ServerProcess] = {}
        for variant in ph.VARIANTS:
            servers[variant] = start_server(waiter=variant, **SERVER_SETTINGS)
            cleanup.callback(servers[variant].stop)
        locust_port = free_port() if LOCUSTFILE.exists() else None
        prom_port = free_port()
        config = prometheus_config(servers, locust_port, prom_port)
        cleanup.callback(stop_process, start_prometheus(config, prom_port, workdir))
        prom = Prometheus(f"http://127.0.0.1:{prom_port}", start=time.time())
        if locust_port:
            cleanup.callback(stop_process, start_locust(servers, locust_port, workdir))
        # A sample from before the storm on every target, or rate() has nothing to compare.
        wait_until(
            lambda: len(prom.instant("up == 1")) == len(prom.instant("up")) == targets(config),
            10,
            "a first scrape of every target",
            workdir / "prometheus.log",
        )

        statuses = asyncio.run(storm(servers))
        # Prometheus must have seen the wedge and a few scrapes after the storm.
        wait_until(
            lambda: bool(prom.instant('stampede_wedged{variant="to_thread"} == 1')),
            10,
            "Prometheus to see the to_thread wedge",
            servers["to_thread"].log_path,
        )
        time.sleep(2.5)
        yield Stack(prom, statuses, bool(locust_port))


def targets(config: dict[str, Any]) -> int:
    return sum(len(s["targets"]) for job in config["scrape_configs"] for s in job["static_configs"])


def queries(*, client_side: bool) -> list[ph.Query]:
    return [q for q in ph.all_queries() if q.client_side == client_side and not q.annotation]


def assert_returns_data(prom: Prometheus, query: ph.Query, variant: str) -> None:
    expr = ph.substitute(query.expr, variant, rate_interval=RATE_INTERVAL)
    where = f"{query.dashboard} {query.where} [{variant}]: {expr}"
    # Name each metric first: "not exported" is a clearer failure than "no data".
    for name in sorted(query.metrics):
        selector = f'{{__name__="{name}", variant="{variant}"}}'
        if '"$variant"' not in query.expr:  # e.g. stampede_client_users: no variant label
            selector = f'{{__name__="{name}"}}'
        assert prom.instant(f"count({selector})"), f"{where}\n  metric {name} is not exported"
    result = prom.instant(expr) if query.instant else prom.range(expr)
    assert result, f"{where}\n  returned no series"
    assert finite_values(result), f"{where}\n  returned only NaN/Inf"


# --- tests ----------------------------------------------------------------------------------------
def test_storm_reached_every_server(stack: Stack) -> None:
    for variant, statuses in stack.statuses.items():
        assert statuses.count(200) >= 8, (variant, statuses)
        assert 409 in statuses, (variant, statuses)


def test_variant_template_lists_every_variant(stack: Stack) -> None:
    assert set(stack.prom.label_values("variant", "stampede_build_info")) == set(ph.VARIANTS)


@pytest.mark.parametrize("variant", ph.VARIANTS)
def test_every_server_panel_query_returns_data(stack: Stack, variant: str) -> None:
    server_queries = queries(client_side=False)
    assert server_queries
    for query in server_queries:
        assert_returns_data(stack.prom, query, variant)


@pytest.mark.parametrize("variant", ph.VARIANTS)
def test_every_client_panel_query_returns_data(stack: Stack, variant: str) -> None:
    assert stack.locust, f"{LOCUSTFILE.relative_to(ph.REPO)} is missing: client panels unchecked"
    client_queries = queries(client_side=True)
    assert client_queries
    for query in client_queries:
        assert_returns_data(stack.prom, query, variant)


def test_wedge_annotation_marks_to_thread_only(stack: Stack) -> None:
    annotations = [q for q in ph.all_queries() if q.annotation and "stampede_wedged" in q.metrics]
    assert annotations
    for query in annotations:
        wedged = stack.prom.range(ph.substitute(query.expr, "to_thread"))
        assert finite_values(wedged), f"{query.where}: no to_thread wedge region"
        for variant in ("future", "batched"):
            expr = ph.substitute(query.expr, variant)
            assert not stack.prom.range(expr), f"{variant} wedged"


def test_a_metric_the_server_does_not_export_fails(stack: Stack) -> None:
    # Guards the guard: a typo'd metric name must not pass as "no data yet".
    bogus = ph.Query("test", "bogus", 'stampede_proces_threads{variant=~"$variant"}')
    with pytest.raises(AssertionError, match="is not exported"):
        assert_returns_data(stack.prom, bogus, "future")
