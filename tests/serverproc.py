"""Real `stampede serve` processes on free loopback ports for tests, started by the launcher.

A thin test-side wrapper over `stampede.loadtest.process.launcher` (the one way anything starts a
server): settings go through ServerSettings and `server_argv` as in compare and plan; this
adds the status polling and the timed stop the server tests assert on.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from stampede.loadtest.process.launcher import Handle, LaunchError, launch, stampede_target
from stampede.loadtest.process.processes import free_port
from stampede.server.settings import ServerSettings

ROOT = Path(__file__).resolve().parents[1]
HEALTH_TIMEOUT_S = 20.0

__all__ = ["ROOT", "ServerProcess", "free_port", "running_server", "start_server"]


@dataclass
class ServerProcess:
    handle: Handle

    @property
    def proc(self):
        return self.handle.popen

    @property
    def url(self) -> str:
        return self.handle.base_url

    @property
    def log_path(self) -> Path:
        assert self.handle.log_path is not None
        return self.handle.log_path

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
        """SIGTERM, then wait (SIGKILL after `timeout`); returns how long the exit took."""
        started = time.monotonic()
        self.handle.stop(timeout)
        return time.monotonic() - started


def start_server(python: Path | str | None = None, **settings: object) -> ServerProcess:
    """A server with these settings (by `python`, e.g. an SDK venv's; default this one)."""
    target = stampede_target(ServerSettings.explicit(**settings), python=python and str(python))
    try:
        handle = launch(target, health_timeout_s=HEALTH_TIMEOUT_S)
    except LaunchError as exc:
        raise RuntimeError(f"server did not become healthy: {exc}") from None
    return ServerProcess(handle)


@contextlib.contextmanager
def running_server(python: Path | str | None = None, **settings: object) -> Iterator[ServerProcess]:
    server = start_server(python, **settings)
    try:
        yield server
    finally:
        server.stop()
        # launch() gave it a temp log: the test has read what it needed (974 were left in /tmp).
        server.log_path.unlink(missing_ok=True)
