"""Start real `stampede serve` processes on free loopback ports for tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def status(self) -> dict:
        return httpx.get(f"{self.url}/v1/status", timeout=5).json()

    def wait_for(
        self, done: Callable[[dict], bool], timeout: float = 10.0, interval: float = 0.05
    ) -> dict:
        """Poll /v1/status until done(status) or the timeout; returns the last status."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if done(status) or time.monotonic() > deadline:
                return status
            time.sleep(interval)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> float:
        """SIGTERM, then wait; returns how long the exit took."""
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return time.monotonic() - started


def start_server(**settings: object) -> ServerProcess:
    port = free_port()
    argv = [sys.executable, "-m", "stampede", "serve", "--port", str(port)]
    for name, value in settings.items():
        argv += ["--" + name.replace("_", "-"), str(value)]
    log_path = Path(tempfile.mkstemp(prefix="stampede-test-", suffix=".log")[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAMPEDE_")}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = ServerProcess(proc, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not become healthy:\n{server.log()}")


@contextlib.contextmanager
def running_server(**settings: object) -> Iterator[ServerProcess]:
    server = start_server(**settings)
    try:
        yield server
    finally:
        server.stop()
