"""The storm stays on loopback unless --allow-remote names where else it may go: refused at
start-up (exit 2, one line) and again when the web UI re-aims a running Locust."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from stampede.loadtest.process.processes import free_port, stop_group
from stampede.loadtest.storm.runner import LOCUSTFILE
from stampede.loadtest.storm.users.arguments import ANY_HOST
from stampede.loadtest.storm.users.loopback import refused_urls

LOCUST = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "IdempotencyStormUser"]
UNROUTABLE = "http://10.255.255.1:8000"  # would hang a connect, were it ever tried


@pytest.mark.parametrize(
    ("url", "allow", "refused"),
    [
        ("http://127.0.0.1:8000", "", False),
        ("http://127.200.3.4:1", "", False),
        ("http://[::1]:8000", "", False),
        ("http://localhost:8000", "", False),
        ("http://LOCALHOST", "", False),
        ("http://0.0.0.0:8000", "", True),  # all interfaces, not loopback
        ("http://10.0.0.1:8000", "", True),
        ("http://localhost.evil.example", "", True),
        ("http://[::ffff:10.0.0.1]:80", "", True),
        ("http://server-future:8000", "server-to-thread,server-future", False),
        ("http://elsewhere:8000", "server-to-thread,server-future", True),
        ("http://anything.example:8000", ANY_HOST, False),
        ("not a url", "", True),
    ],
)
def test_which_urls_are_refused(url: str, allow: str, refused: bool) -> None:
    assert (refused_urls([url], allow) is not None) is refused


def test_refused_at_start_with_one_line(tmp_path: Path) -> None:
    argv = [*LOCUST, "--headless", "--users", "1", "--run-time", "1s", "--host",
            "http://127.0.0.1:9", "--targets", f"a=http://127.0.0.1:9,b={UNROUTABLE}"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    [line] = [ln for ln in done.stderr.splitlines() if "error" in ln.lower()]
    assert "10.255.255.1 is not a loopback address" in line and "--allow-remote" in line


def test_web_ui_cannot_reaim_the_storm(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "locust.log").open("wb")
    proc = subprocess.Popen(
        [*LOCUST, "--web-host", "127.0.0.1", "--web-port", str(port), "--host",
         "http://127.0.0.1:9"],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True,
    )  # fmt: skip
    try:
        ui = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(ui, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, "no web UI"
                time.sleep(0.2)
        form = {"user_count": "2", "spawn_rate": "2", "host": UNROUTABLE}
        assert httpx.post(f"{ui}/swarm", data=form, timeout=5).json()["success"]
        deadline = time.monotonic() + 10
        while (stats := httpx.get(f"{ui}/stats/requests", timeout=5).json())["state"] != "stopped":
            assert time.monotonic() < deadline, f"still {stats['state']}"
            time.sleep(0.2)
        assert sum(s["num_requests"] for s in stats["stats"]) == 0
    finally:
        stop_group(proc, 2.0)
        log.close()
    assert "10.255.255.1 is not a loopback address" in (tmp_path / "locust.log").read_text()
