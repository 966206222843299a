"""One measuring run at a time: two runs sharing the cores would skew each other silently.

`compare`, `plan` and `bench` hold an exclusive flock on one lock file per user for the whole
run. A second run refuses at once with one line naming the holder, or with `--wait SECONDS`
waits that long for it. The kernel drops a flock when its holder dies, however it dies, so a
killed run never leaves a stale lock; the file's text (who holds it) is only informative.
The lock file is $STAMPEDE_RUN_LOCK, else <tmp>/stampede-<uid>/run.lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from stampede.loadtest.errors import HarnessError

LOCK_ENV = "STAMPEDE_RUN_LOCK"
POLL_S = 0.2


def lock_path() -> Path:
    if configured := os.environ.get(LOCK_ENV):
        return Path(configured)
    return Path(tempfile.gettempdir()) / f"stampede-{os.getuid()}" / "run.lock"


def _holder(handle: int) -> str:
    with contextlib.suppress(OSError):
        text = os.pread(handle, 200, 0).decode(errors="replace").strip()
        if text:
            return text
    return "another run"


@contextlib.contextmanager
def run_lock(
    command: str,
    wait_s: float = 0.0,
    say: Callable[[str], None] | None = None,
    path: Path | None = None,
) -> Iterator[Path]:
    """Hold the run lock for the block; HarnessError (one line) if another run keeps it."""
    path = path or lock_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise HarnessError(f"cannot open the run lock {path}: {exc.strerror or exc}") from None
    try:
        deadline = time.monotonic() + wait_s
        announced = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(handle)
                if time.monotonic() >= deadline:
                    tail = f"still, after {wait_s:g} s" if wait_s else "(--wait SECONDS waits)"
                    raise HarnessError(
                        f"{holder} holds the run lock {path} {tail} (the lock is machine-wide: "
                        "one measuring run at a time on this machine)"
                    ) from None
                if say is not None and not announced:
                    say(f"waiting up to {wait_s:g} s for {holder} (run lock {path})")
                    announced = True
                time.sleep(POLL_S)
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        with contextlib.suppress(OSError):
            os.ftruncate(handle, 0)
            os.pwrite(
                handle, f"stampede {command} (pid {os.getpid()}, since {stamp})\n".encode(), 0
            )
        yield path
    finally:
        os.close(handle)  # also releases the flock
