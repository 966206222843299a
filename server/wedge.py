"""Exact wedge detection, and a stall signal for wedges of other shapes.

The waiter wedge is a cycle: every executor worker is parked by a duplicate waiting for some
primary, and each of those primaries has its next model call queued behind them. Parked
workers free only when their primary settles; a primary settles only after its queued call
gets a worker. When both hold, no worker can ever free again, so the flag never lies and,
checked every 100 ms, forms within well under a second of the cycle closing.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from stampede.server.executor import ExecutorSnapshot

log = logging.getLogger("stampede.wedge")


def is_wedged(snapshot: ExecutorSnapshot, settled: Callable[[str], bool]) -> bool:
    running = snapshot.running
    if len(running) < snapshot.max_workers or not running:
        return False
    if any(item.kind != "waiter" or item.owner is None for item in running):
        return False
    awaited = {item.owner for item in running}
    if any(settled(owner) for owner in awaited):  # type: ignore[arg-type]
        return False
    queued_calls = {item.owner for item in snapshot.queued if item.kind == "model"}
    return awaited <= queued_calls


def thread_stacks() -> str:
    names = {t.ident: t.name for t in threading.enumerate()}
    parts = []
    for ident, frame in sys._current_frames().items():
        stack = "".join(traceback.format_stack(frame))
        parts.append(f'Thread "{names.get(ident, "?")}" ({ident}):\n{stack}')
    return "\n".join(parts)


@dataclass
class WedgeState:
    wedged: bool = False
    since: float | None = None
    since_wall: float | None = None
    stalled: bool = False
    stalled_since: float | None = None

    def update_wedge(self, wedged_now: bool, describe: Callable[[], str]) -> None:
        if wedged_now and not self.wedged:
            self.wedged = True
            self.since = time.monotonic()
            self.since_wall = time.time()
            log.error("WEDGED: %s\n%s", describe(), thread_stacks())

    def update_stall(self, active: int, last_completion: float, stall_seconds: float) -> None:
        stalled_now = active > 0 and time.monotonic() - last_completion >= stall_seconds
        if stalled_now and not self.stalled:
            self.stalled_since = time.time()
            log.warning(
                "STALLED: %d request(s) in flight and none finished for %.1f s",
                active,
                stall_seconds,
            )
        if not stalled_now:
            self.stalled_since = None
        self.stalled = stalled_now
