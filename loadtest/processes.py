"""Child processes of the harness: free loopback ports, their environment, stopping a process
group, and holding Ctrl-C while a process is started or stopped. The launcher (servers) and
the runner (Locust) both use these; there is one of each."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator, Mapping


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold Ctrl-C/SIGTERM until the block ends, so starting or stopping a process is never
    cut in half (a process started but not yet recorded would be leaked)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if pending:
            raise KeyboardInterrupt


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a child, plus `extra`."""
    # Settings travel as flags only: a stray STAMPEDE_* in the caller's shell must not change
    # one variant behind the report's back.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STAMPEDE_", "LOCUST_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env | dict(extra or {})


def stop_group(proc: subprocess.Popen[bytes] | None, timeout: float) -> int | None:
    """SIGTERM the process group, SIGKILL it after `timeout`; returns the exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        _killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1.0)
    return proc.poll()


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
