"""Child processes of the harness: free loopback ports, their environment, starting a child that
dies with its harness, and stopping its process group. The launcher (servers), the runner
(Locust) and the SDK envs (pip) all start their children through `spawn` or caps.start_capped,
so each gets a parent-death signal and the owner mark (lifeline.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from stampede.loadtest.process.interrupts import deferred_interrupts
from stampede.loadtest.process.lifeline import die_with_parent, marked_env

__all__ = ["child_env", "deferred_interrupts", "free_port", "spawn", "stop_group"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a child, plus `extra` and the owner mark."""
    # Settings travel as flags only: a stray STAMPEDE_* in the caller's shell must not change
    # one variant behind the report's back.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STAMPEDE_", "LOCUST_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return marked_env(env | dict(extra or {}))


def spawn(argv: Sequence[str], **popen: Any) -> subprocess.Popen[bytes]:
    """Start argv in its own session (Ctrl-C reaches the harness, which stops it), with a
    parent-death signal and the owner mark (child_env() unless `env` is given). Call it from
    a thread that lives as long as the child: the signal fires when the forking thread exits."""
    popen["env"] = marked_env(popen["env"]) if popen.get("env") is not None else child_env()
    return subprocess.Popen(
        list(argv), preexec_fn=die_with_parent(), start_new_session=True, **popen
    )


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
