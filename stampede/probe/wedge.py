"""Wedge detection on the default executor, and a stall signal for wedges of other shapes.

A wedge is an executor that can never free a worker again. Two rules raise it:

- **The general rule**, for any server: every worker runs an item that is parked in a wait
  primitive, items are queued behind them, and no item has completed for `confirm_s`. A parked
  worker waits for something another thread or task must do; when that something is itself
  queued behind the parked workers (the classic: duplicates park on `to_thread(event.wait)`
  and the primary's next `to_thread` call queues), nothing moves again.
- **The tagged cycle**, for servers that tag their executor work (`executor.tagged`): every
  worker is parked by a "waiter" for some owner whose work is unsettled, and each of those
  owners has a "model" call queued behind them. That is a proof, so it fires at once.

The flag latches: a wedge does not undo itself, and the log line with every thread's stack is
written once. The stall signal (requests in flight and none finished for a while) is for
servers that can say what a request is; it clears when work finishes again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

# Bound at import: a test that patches time.monotonic (a fake clock) must not reach us.
from time import monotonic
from time import time as wall_time

from stampede.probe.executor import ExecutorSnapshot
from stampede.probe.stacks import thread_stacks

log = logging.getLogger("stampede.wedge")

CONFIRM_S = 1.0  # the general rule must hold this long, with no completion, to raise the flag


def is_wedged(snapshot: ExecutorSnapshot, settled: Callable[[str], bool]) -> bool:
    """The tagged cycle: every worker parked by a waiter whose owner's model call is queued."""
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


def all_parked(snapshot: ExecutorSnapshot) -> bool:
    """The general rule's state: a full pool of parked workers with work queued behind it."""
    running = snapshot.running
    return (
        bool(running)
        and len(running) >= snapshot.max_workers
        and bool(snapshot.queued)
        and all(item.id in snapshot.parked for item in running)
    )


def describe_parked(snapshot: ExecutorSnapshot) -> str:
    return (
        f"all {snapshot.max_workers} default-executor workers are parked in a wait primitive "
        f"and {len(snapshot.queued)} item(s) are queued behind them; none completed since"
    )


@dataclass
class WedgeState:
    wedged: bool = False
    since: float | None = None
    since_wall: float | None = None
    rule: str | None = None  # "cycle" or "parked": which rule raised the flag
    stalled: bool = False
    stalled_since: float | None = None
    _held_since: float | None = None  # the general rule: when it began to hold
    _completed_then: int = 0

    def update_wedge(self, wedged_now: bool, describe: Callable[[], str], rule: str) -> None:
        if wedged_now and not self.wedged:
            self.wedged = True
            self.rule = rule
            self.since = monotonic()
            self.since_wall = wall_time()
            log.error("WEDGED: %s\n%s", describe(), thread_stacks())

    def update_parked(self, snapshot: ExecutorSnapshot, confirm_s: float = CONFIRM_S) -> None:
        """The general rule, checked on a snapshot taken with stacks."""
        if self.wedged:
            return
        if not all_parked(snapshot):
            self._held_since = None
            return
        now = monotonic()
        if self._held_since is None or snapshot.completed != self._completed_then:
            self._held_since, self._completed_then = now, snapshot.completed
            return
        if now - self._held_since >= confirm_s:
            self.update_wedge(True, lambda: describe_parked(snapshot), "parked")

    def update_stall(self, active: int, last_completion: float, stall_seconds: float) -> None:
        stalled_now = active > 0 and monotonic() - last_completion >= stall_seconds
        if stalled_now and not self.stalled:
            self.stalled_since = wall_time()
            log.warning(
                "STALLED: %d request(s) in flight and none finished for %.1f s",
                active,
                stall_seconds,
            )
        if not stalled_now:
            self.stalled_since = None
        self.stalled = stalled_now
