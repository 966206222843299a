"""The locustfile against real servers: real Locust processes, headless and master/worker.

Stats names must tell primary / duplicate / retry attempts apart (prefixed by target), and
409s, 504s and client timeouts must land as their own failure kinds. The client-metrics
exporter must see requests in local mode and, via worker reports, on a master.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from stampede.loadtest.observe.sampler import parse_client_metrics
from stampede.loadtest.process.processes import free_port, stop_group
from stampede.loadtest.storm.runner import LOCUSTFILE

from tests.serverproc import running_server

pytestmark = pytest.mark.slow

# Primaries take 2 x 400 ms: a 0.6 s client timeout cuts every first attempt of a primary,
# while the server answers waiting duplicates with 504 after 0.3 s; 2 agents for 4 users
# make different keys collide (409).
SERVER = {"waiter": "future", "model_latency_ms": 400, "model_cycles": 2, "executor_workers": 4}
STORM = [
    "--agents", "2", "--duplicates", "3", "--client-timeout", "0.6", "--retry-policy", "fixed",
    "--max-retries", "2", "--retry-base", "0.05", "--think-time", "0.1", "--seed", "3",
]  # fmt: skip


USER_CLASS = "IdempotencyStormUser"


def locust(*args: str, cwd: Path) -> subprocess.Popen[bytes]:
    # Named user class: the locustfile also holds other scenarios' users.
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *args, USER_CLASS]
    log = (cwd / f"locust-{time.monotonic_ns()}.log").open("wb")
    return subprocess.Popen(
        argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait(proc: subprocess.Popen[bytes], timeout: float) -> int:
    try:
        return proc.wait(timeout=timeout)
    finally:
        stop_group(proc, 2.0)  # never leave a Locust behind, whatever failed


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def client_requests(port: int) -> int:
    """Requests the exporter reports, read with the harness's own parser; 0 if not up yet."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
    except httpx.HTTPError:
        return 0
    return int(parse_client_metrics(text)["client_requests"])


def poll_exporter(port: int, proc: subprocess.Popen[bytes], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline and proc.poll() is None and not seen:
        seen = client_requests(port)
        time.sleep(0.3)
    return seen


def test_headless_names_failure_kinds_and_exporter(tmp_path: Path) -> None:
    with (
        running_server(**SERVER, duplicate_timeout_s=0.3) as a,
        running_server(**SERVER, duplicate_timeout_s=0.3) as b,
    ):
        port = free_port()
        proc = locust(
            "--headless", "--users", "4", "--spawn-rate", "4", "--run-time", "5s",
            "--host", a.url, "--targets", f"a={a.url},b={b.url}", *STORM,
            "--prometheus-port", str(port), "--csv", str(tmp_path / "run"),
            "--exit-code-on-error", "0", "--stop-timeout", "0",
            cwd=tmp_path,
        )  # fmt: skip
        exported = poll_exporter(port, proc, timeout=8)
        assert wait(proc, timeout=20) == 0
    assert exported > 0, "the local runner's exporter served no stampede_client_requests_total"

    names = {row["Name"] for row in read_rows(tmp_path / "run_stats.csv")} - {"Aggregated"}
    for target in ("a", "b"):  # users split between both targets, names prefixed
        assert {f"{target}:invoke [primary]", f"{target}:invoke [dup]"} <= names, names
    assert any(name.endswith("invoke [retry]") for name in names), names

    kinds = {row["Error"].split("(", 1)[0] for row in read_rows(tmp_path / "run_failures.csv")}
    assert {"ConflictError", "DuplicateTimeoutError", "ClientTimeoutError"} <= kinds, kinds


def test_master_and_worker(tmp_path: Path) -> None:
    with running_server(**SERVER) as server:
        master_port, metrics_port = free_port(), free_port()
        master = locust(
            "--master", "--headless", "--expect-workers", "1", "--expect-workers-max-wait", "15",
            "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port),
            "--users", "3", "--spawn-rate", "3", "--run-time", "4s", "--host", server.url,
            *STORM, "--prometheus-port", str(metrics_port), "--csv", str(tmp_path / "dist"),
            "--exit-code-on-error", "0", "--stop-timeout", "0",
            cwd=tmp_path,
        )  # fmt: skip
        worker = locust(
            "--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port),
            cwd=tmp_path,
        )  # fmt: skip
        try:
            # Requests happen on the worker; the master only sees them via worker reports.
            exported = poll_exporter(metrics_port, master, timeout=15)
            assert wait(master, timeout=30) == 0
            wait(worker, timeout=10)
        finally:
            stop_group(worker, 2.0)
            stop_group(master, 2.0)
    assert exported > 0, "the master exported no client requests from its worker"
    rows = read_rows(tmp_path / "dist_stats.csv")
    names = {row["Name"] for row in rows}
    # Custom arguments reached the worker: --duplicates 3 means [dup] senders exist.
    assert {"invoke [primary]", "invoke [dup]"} <= names, names
    total = next(row for row in rows if row["Name"] == "Aggregated")
    assert int(total["Request Count"]) > 0
