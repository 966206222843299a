"""The launcher: one way to start a system under test, with real processes on loopback.

Stampede's own server capped and read back; an arbitrary command with "{port}" and its own
health path; a URL target; a target that dies or never answers; a port taken first; and a
cancelled async launch that must not leave its process behind.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from stampede.loadtest.process import launcher
from stampede.loadtest.process.caps import CapsRequest, cgroups_available
from stampede.loadtest.process.launcher import (
    CommandTarget,
    LaunchError,
    UrlTarget,
    launch,
    launch_async,
    launched,
    stampede_target,
)
from stampede.loadtest.process.processes import child_env
from stampede.server.settings import ServerSettings

# A tiny HTTP server that is not Stampede's: the launcher must not assume /healthz.
HTTP_SERVER = (sys.executable, "-m", "http.server", "{port}", "--bind", "{host}")


def _gone(pid: int, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(cgroups_available() is None, reason="needs writable cgroups")
def test_stampede_server_capped_and_read_back(tmp_path: Path) -> None:
    settings = ServerSettings.explicit(waiter="future", cpus=3, model_latency_ms=50)
    target = stampede_target(settings, caps=CapsRequest(cpus=1, pids=256), name="t-launch")
    log = tmp_path / "server.log"
    with launched(target, log_path=log) as handle:
        assert handle.base_url == f"http://127.0.0.1:{handle.port}"
        status = httpx.get(f"{handle.base_url}/v1/status", timeout=5).json()
        assert status["executor"]["max_workers"] == 7  # the settings reached the child: 3 + 4
        caps = handle.caps
        assert caps is not None and caps["method"] in ("cgroup-v1", "cgroup-v2")
        assert caps["enforced"]["cpus"] == 1.0 and caps["enforced"]["pids"] == 256
        assert psutil.Process(handle.pid).cmdline()[1:4] == ["-P", "-m", "stampede.server"]
        pid, paths = handle.pid, caps["cgroup_paths"]
    assert handle.exit_code() is not None and _gone(pid)
    assert paths and not any(os.path.exists(p) for p in paths), "cgroups left behind"
    assert "Uvicorn running on" in log.read_text()


def test_any_command_with_its_own_health_path_and_a_url_target() -> None:
    target = CommandTarget(HTTP_SERVER, name="httpd", health_path="/")
    with launched(target) as handle:
        assert handle.caps is None and handle.pid is not None
        # Someone else's server, by URL: checked, never started or stopped.
        outside = launch(UrlTarget(handle.base_url + "/", health_path="/"))
        assert outside.base_url == handle.base_url and outside.pid is None
        assert outside.stop() is None and handle.alive()
    assert _gone(handle.pid)


def test_a_target_that_dies_or_never_answers_is_one_error() -> None:
    dies = CommandTarget((sys.executable, "-c", "print('boom {port}'); raise SystemExit(3)"))
    with pytest.raises(LaunchError, match=r"exited with code 3 .*boom"):
        launch(dies, health_timeout_s=20)
    with socket.socket() as sock:  # bound, never listening: nothing answers there
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(LaunchError, match="did not answer in time"):
            launch(UrlTarget(url), health_timeout_s=0.5)
        assert time.monotonic() - started < 5


def test_a_port_taken_first_is_retried_on_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = iter([taken.getsockname()[1]])
        real = launcher.free_port
        monkeypatch.setattr(launcher, "free_port", lambda: next(ports, None) or real())
        log = tmp_path / "httpd.log"
        with launched(CommandTarget(HTTP_SERVER, health_path="/"), log_path=log) as handle:
            assert handle.port != taken.getsockname()[1]
    assert "was taken; retrying on another" in log.read_text()


def test_a_cancelled_async_launch_stops_its_process() -> None:
    # Never healthy: it sleeps instead of listening. The task is cancelled mid-wait.
    sleeper = CommandTarget((sys.executable, "-c", "import time; time.sleep(60)  # {port}"))

    async def cancel_it() -> None:
        task = asyncio.create_task(launch_async(sleeper, health_timeout_s=30))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    started = time.monotonic()
    asyncio.run(cancel_it())
    assert time.monotonic() - started < 10
    left = [
        p
        for p in psutil.Process().children(recursive=True)
        if "time.sleep(60)" in " ".join(p.cmdline())
    ]
    assert not left, [p.cmdline() for p in left]


def test_child_env_drops_the_callers_stampede_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAMPEDE_MODEL_CYCLES", "9")
    env = child_env({"EXTRA": "1"})
    assert "STAMPEDE_MODEL_CYCLES" not in env and env["EXTRA"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
