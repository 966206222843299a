"""Tie every child process to the harness that started it, so nothing outlives a dead harness.

Three layers, because no single one covers every way a harness dies:

- a parent-death signal: each child asks the kernel (prctl PR_SET_PDEATHSIG) for SIGKILL when
  the thread that forked it exits, so even a SIGKILLed harness takes its children with it.
  Children must therefore be started from a long-lived thread (the main thread, or the event
  loop's), never from a short-lived worker thread;
- an owner mark in the child's environment (`_STAMPEDE_OWNER=<pid>:<start time>`), inherited by
  grandchildren, so the next harness can find and kill whatever a dead one left running;
- the owner's identity is its pid *and* its start time (from /proc/<pid>/stat), so a pid the
  kernel has since handed to an unrelated process does not look like a live owner.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path

OWNER_ENV = "_STAMPEDE_OWNER"  # no STAMPEDE_ prefix: that namespace is the server's settings
PR_SET_PDEATHSIG = 1


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    # The command name may hold spaces and parentheses: fields are counted after the last ')'.
    fields = stat.rsplit(")", 1)[-1].split()
    if len(fields) < 20 or fields[0] == "Z":  # a zombie is as good as gone
        return None
    return int(fields[19])  # field 22 of proc(5), the 20th after "pid (comm)"


def owner_token(pid: int | None = None) -> str:
    """`<pid>:<start time>` of this process (or pid), naming it uniquely since boot."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{start_time(pid) or 0}"


def parse_token(token: str) -> tuple[int, int | None] | None:
    """(pid, start time) from `pid:start` or a bare `pid` (start unknown); None if malformed."""
    pid, _, start = token.partition(":")
    if not pid.isdigit() or (start and not start.isdigit()):
        return None
    return int(pid), int(start) if start else None


def owner_alive(token: str) -> bool:
    """Whether the process a token names still runs; malformed tokens count as alive (unsure)."""
    parsed = parse_token(token)
    if parsed is None:
        return True
    pid, start = parsed
    now = start_time(pid)
    return now is not None and (start is None or start == now)


def marked_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child: `env` (default: ours) plus this harness's owner mark."""
    out = dict(os.environ if env is None else env)
    out[OWNER_ENV] = owner_token()
    return out


@cache
def _prctl() -> Callable[..., int] | None:
    with contextlib.suppress(OSError, AttributeError):
        return ctypes.CDLL(None, use_errno=True).prctl
    return None


def die_with_parent() -> Callable[[], None]:
    """A preexec_fn step: SIGKILL this child when the forking thread of the harness exits.

    Built in the parent (libc lookup, parent pid), so the child only makes two syscalls.
    """
    prctl, parent = _prctl(), os.getpid()

    def arm() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the harness died before the signal was armed
            os.kill(os.getpid(), signal.SIGKILL)

    return arm


def chain(*steps: Callable[[], None] | None) -> Callable[[], None]:
    """One preexec_fn running the given steps in order (None entries skipped)."""
    todo = [step for step in steps if step is not None]

    def run() -> None:
        for step in todo:
            step()

    return run


def _owner_of(pid: int) -> str | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    prefix = OWNER_ENV.encode() + b"="
    for item in environ.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix) :].decode(errors="replace")
    return None


def marked_processes() -> dict[int, str]:
    """Every process carrying an owner mark, with its token."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (token := _owner_of(int(entry.name))) is not None:
            found[int(entry.name)] = token
    return found


def sweep_orphans() -> list[int]:
    """SIGKILL every marked process (and its group) whose owner is gone; returns their pids."""
    killed = []
    me = os.getpid()
    for pid, token in marked_processes().items():
        if pid == me or owner_alive(token):
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pid:  # a group leader: its helpers go with it
                os.killpg(pid, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed
