"""Start a system under test and get back a handle: the one way every command and test does it.

A target is something with a base URL, maybe a process, maybe caps:

- `CommandTarget`: a process the harness starts. "{port}" and "{host}" in its argv become a free
  loopback port and 127.0.0.1; it may run capped (caps.py: cgroups, else affinity/rlimits); it
  is ready when `health_path` answers 200.
- `UrlTarget`: a server someone else started; the harness only waits for its health path.

A user's server may have no health route: with `tcp_fallback`, a 404 or 405 on the health path
still proves the server accepts connections and answers, so it counts as up. A command target
with `split_stderr` writes its stderr to a file of its own (`Handle.stderr_path`), which the
black-box detector reads live.

`stampede_target(settings)` is the CommandTarget of Stampede's own server, its argv made by
`server_argv`, the one ServerSettings -> argv function.

`launch(target)` picks the port, starts the process in its own session (so its whole process
group can be stopped) with a parent-death signal and the harness's owner mark (lifeline.py: it
dies with the harness, even a SIGKILLed one, and the next start sweeps anything left), waits
for health within a bound, tries another port when the one it picked was taken first, and
returns a `Handle`: base URL, port, pid, log path, caps requested and read back from the
kernel, and `stop()` (SIGTERM to the group, SIGKILL after a timeout, cgroups removed).
Whatever goes wrong, Ctrl-C included, a process it started is stopped before the error
propagates. `launch_async` is the same for asyncio callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from stampede.loadtest.process.caps import CappedProcess, CapsRequest, start_capped
from stampede.loadtest.process.processes import (
    child_env,
    deferred_interrupts,
    free_port,
    spawn,
    stop_group,
)
from stampede.server.settings import ServerSettings, server_argv

HOST = "127.0.0.1"  # load goes to loopback only
HEALTH_PATH = "/healthz"
HEALTH_TIMEOUT_S = 30.0  # generous: servers may start while others load both cores
HEALTH_POLL_S = 0.05
HEALTH_READ_S = 1.0
STOP_TIMEOUT_S = 3.0  # a wedged stampede server aborts its waiters and exits in about 1 s
PORT_ATTEMPTS = 3  # free_port() cannot reserve the port: another process may bind it first
PORT_TAKEN = "address already in use"


class LaunchError(RuntimeError):
    """The target did not come up (exited, never healthy); the message says why, with its log."""


@dataclass(frozen=True)
class CommandTarget:
    """A process to start: `argv` with "{port}" / "{host}" placeholders."""

    argv: tuple[str, ...]
    name: str = "sut"  # names its cgroup and its log lines
    health_path: str = HEALTH_PATH
    caps: CapsRequest | None = None  # None: no caps, no cgroup
    env: Mapping[str, str] = field(default_factory=dict)  # on top of child_env()
    cwd: Path | None = None
    tcp_fallback: bool = False  # a 404/405 on the health path also counts as up
    split_stderr: bool = False  # stderr to <log>.stderr.log instead of the log


@dataclass(frozen=True)
class UrlTarget:
    """A server that is already running; nothing to start or stop."""

    base_url: str
    name: str = "url"
    health_path: str = HEALTH_PATH
    tcp_fallback: bool = False


Target = CommandTarget | UrlTarget


def stampede_target(
    settings: ServerSettings,
    *,
    python: str | None = None,
    caps: CapsRequest | None = None,
    name: str = "stampede",
) -> CommandTarget:
    """Stampede's own server with `settings` (its host and port are the launcher's)."""
    given = {k: v for k, v in settings.given().items() if k not in ("host", "port")}
    argv = server_argv(ServerSettings.explicit(**given, host=HOST), python)
    return CommandTarget((*argv, "--port", "{port}"), name=name, caps=caps)


@dataclass
class Handle:
    """A launched target. For a URL target, pid, log and caps are None and stop() does nothing."""

    target: Target
    base_url: str
    port: int | None = None
    log_path: Path | None = None
    popen: subprocess.Popen[bytes] | None = None
    capped: CappedProcess | None = None
    stderr_path: Path | None = None  # a command target's own stderr (split_stderr)
    health: str | None = None  # how it proved up: "http" (200) or "tcp" (fallback)

    @property
    def pid(self) -> int | None:
        return None if self.popen is None else self.popen.pid

    @property
    def caps(self) -> dict[str, Any] | None:
        """method, requested, enforced (read back from the kernel), notes, cgroup_paths."""
        return None if self.capped is None else self.capped.report()

    def exit_code(self) -> int | None:
        """None while running (or for a URL target)."""
        return None if self.popen is None else self.popen.poll()

    def alive(self) -> bool:
        return self.popen is None or self.popen.poll() is None

    def log_tail(self, lines: int = 3) -> str:
        # A split stderr holds what a failing server says (uvicorn logs there).
        return tail(self.stderr_path, lines) or tail(self.log_path, lines)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM the process group, SIGKILL after `timeout`, remove the cgroups; returns the
        exit code. Idempotent."""
        with deferred_interrupts():
            if self.capped is not None:
                return self.capped.stop(timeout=timeout)
            return stop_group(self.popen, timeout)

    def __enter__(self) -> Handle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def tail(path: Path | None, lines: int = 3) -> str:
    """The last lines of a log, joined on one line (for error messages)."""
    if path is None:
        return ""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def wait_healthy(handle: Handle, deadline: float, cancel: threading.Event | None = None) -> None:
    """The one health loop: GET the target's health path until 200, the process exits, the
    deadline (monotonic) passes or `cancel` is set; LaunchError unless healthy."""
    url = handle.base_url + handle.target.health_path
    with httpx.Client(timeout=HEALTH_READ_S) as http:
        while time.monotonic() < deadline and not (cancel and cancel.is_set()):
            if (code := handle.exit_code()) is not None:
                raise LaunchError(
                    f"{handle.target.name} exited with code {code} before answering "
                    f"{url} ({handle.log_tail()})"
                )
            with contextlib.suppress(httpx.HTTPError):
                status = http.get(url).status_code
                if status == 200 or (handle.target.tcp_fallback and status in (404, 405)):
                    handle.health = "http" if status == 200 else "tcp"
                    return
            time.sleep(HEALTH_POLL_S)
    why = "was cancelled" if cancel and cancel.is_set() else "did not answer in time"
    raise LaunchError(f"{handle.target.name} {why}: {url} ({handle.log_tail()})")


def _spawn(target: CommandTarget, port: int, log_path: Path) -> Handle:
    argv = [arg.replace("{port}", str(port)).replace("{host}", HOST) for arg in target.argv]
    env = child_env(target.env)
    cwd = str(target.cwd) if target.cwd else None
    handle = Handle(target, f"http://{HOST}:{port}", port, log_path)
    if target.split_stderr:
        handle.stderr_path = log_path.with_suffix(".stderr.log")
    with contextlib.ExitStack() as files, deferred_interrupts():
        log = files.enter_context(log_path.open("ab"))  # the child keeps its own copies
        err: Any = subprocess.STDOUT
        if handle.stderr_path is not None:
            err = files.enter_context(handle.stderr_path.open("ab"))
        if target.caps is not None:
            handle.capped = start_capped(
                argv, target.caps, name=target.name, env=env, cwd=cwd, stdout=log, stderr=err,
            )  # fmt: skip
            handle.popen = handle.capped.popen
        else:
            handle.popen = spawn(
                argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=err,
            )  # fmt: skip
    return handle


def _port_taken(handle: Handle) -> bool:
    said = tail(handle.log_path, 20) + tail(handle.stderr_path, 20)
    return handle.exit_code() is not None and PORT_TAKEN in said.lower()


def launch(
    target: Target,
    *,
    log_path: Path | None = None,
    deadline: float | None = None,
    health_timeout_s: float = HEALTH_TIMEOUT_S,
    cancel: threading.Event | None = None,
) -> Handle:
    """Start `target` (a URL target: just check it) and wait until it is healthy.

    The health wait ends by `deadline` (monotonic) or `health_timeout_s` from each start,
    whichever is first. The process writes to `log_path` (appended; a temp file if None).
    """
    if isinstance(target, UrlTarget):
        handle = Handle(target, target.base_url.rstrip("/"))
        wait_healthy(handle, _bound(deadline, health_timeout_s), cancel)
        return handle
    log = log_path or Path(tempfile.mkstemp(prefix=f"stampede-{target.name}-", suffix=".log")[1])
    log.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, PORT_ATTEMPTS + 1):
        try:
            handle = _spawn(target, free_port(), log)
        except OSError as exc:  # no such program, not executable, a bad cwd: one clear line
            raise LaunchError(
                f"{target.name} could not start {target.argv[0]!r}: {exc.strerror or exc}"
            ) from None
        try:
            wait_healthy(handle, _bound(deadline, health_timeout_s), cancel)
            return handle
        except LaunchError:
            handle.stop(timeout=1.0)
            if attempt == PORT_ATTEMPTS or not _port_taken(handle):
                raise
        except BaseException:  # Ctrl-C, or anything else: never leave the process behind
            handle.stop(timeout=1.0)
            raise
        with log.open("ab") as out:
            out.write(f"--- port {handle.port} was taken; retrying on another ---\n".encode())
    raise AssertionError("unreachable")  # pragma: no cover


async def launch_async(target: Target, **kwargs: Any) -> Handle:
    """launch() without blocking the event loop. When the awaiting task is cancelled, the
    launch stops at its next health poll and whatever it started is stopped."""
    cancel = threading.Event()
    loop = asyncio.get_running_loop()
    pending = loop.run_in_executor(None, functools.partial(launch, target, cancel=cancel, **kwargs))
    try:
        return await asyncio.shield(pending)
    except asyncio.CancelledError:
        cancel.set()
        with contextlib.suppress(Exception):
            (await pending).stop()  # it became healthy just before the cancel
        raise


def _bound(deadline: float | None, timeout_s: float) -> float:
    bound = time.monotonic() + timeout_s
    return bound if deadline is None else min(bound, deadline)


@contextlib.contextmanager
def launched(target: Target, **kwargs: Any) -> Iterator[Handle]:
    """`with launched(target) as handle:` stops the target however the block ends."""
    handle = launch(target, **kwargs)
    try:
        yield handle
    finally:
        handle.stop()
