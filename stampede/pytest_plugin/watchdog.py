"""One daemon thread that watches every running test loop: blocked callbacks and wedges.

A loop blocked by a callback cannot say so itself, and a wedged pool leaves the loop idle and
responsive, so neither shows from inside. Every TICK_S the watchdog:

- reads each running loop's heartbeat (loops.py): no beat for longer than the threshold means
  a callback holds the loop, and the loop thread's stack, taken then, says where (blocking.py
  times the callback and writes the finding); otherwise it samples the loop thread's run-queue
  time, so that blocking.py can leave out the time the machine made it wait;
- snapshots each loop's default executor with stacks and applies the probe's general wedge
  rule (wedge.py): every worker parked in a wait, work queued behind them, nothing completed
  for `confirm_s`.

Findings go to a sink (checks.py), which gives them to the test running at the time.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable

# Bound at import: a test that patches time.monotonic (a fake clock) must not reach us.
from time import monotonic, perf_counter
from typing import Any

from stampede.probe.wedge import all_parked, describe_parked
from stampede.pytest_plugin.blocking import run_queue_s
from stampede.pytest_plugin.loops import BEAT_S, LoopWatch, Registry, is_machinery

TICK_S = 0.05
THREAD_NAME = "stampede-pytest-watchdog"

# Told each finding: (kind, title, evidence text, texts the allow-list is searched in)
Sink = Callable[[str, str, str, list[str]], None]


class Watchdog:
    def __init__(self, registry: Registry, sink: Sink, block_s: float, confirm_s: float) -> None:
        self.registry = registry
        self.sink = sink
        self.block_s = block_s
        self.confirm_s = confirm_s
        self._stop = threading.Event()
        self._running_since: dict[int, float] = {}
        self.thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            for watch in self.registry.watches():
                try:
                    self._check_block(watch)
                    self._check_wedge(watch)
                except Exception as exc:  # a watchdog that dies would watch nothing more
                    self.sink("internal", f"the watchdog failed: {exc!r}", "", [])

    def _check_block(self, watch: LoopWatch) -> None:
        """Sample the loop thread's run-queue time, and take its stack once while a callback
        holds the loop (no heartbeat for longer than the threshold): blocking.py times the
        callback and uses the stack as its evidence."""
        loop = watch.loop
        key = id(watch)
        if loop is None or not loop.is_running():
            self._running_since.pop(key, None)
            return
        now = monotonic()
        since = self._running_since.setdefault(key, now)
        last = max(watch.last_beat, since)
        # Half the threshold: the stack is taken while the callback still holds the loop,
        # and the watchdog may wait for the GIL before it can take it.
        if now - last - BEAT_S <= self.block_s / 2:
            queued = run_queue_s(watch.native_id)
            if queued is not None:
                watch.sched.append((perf_counter(), queued))
            return
        taken = watch.stall_stack
        if taken is None or taken[0] < perf_counter() - (now - last):
            frame = sys._current_frames().get(watch.thread or -1)
            watch.stall_stack = (perf_counter(), user_frames(frame))

    def _check_wedge(self, watch: LoopWatch) -> None:
        """The probe's general rule (wedge.py), once per wedge: it re-arms when it stops
        holding. Not WedgeState itself: its log line would repeat every thread's stack."""
        if not watch.executor.snapshot().running:
            watch.held = None
            return
        snapshot = watch.executor.snapshot(stacks=True)
        if not all_parked(snapshot):
            watch.held = None
            return
        now = monotonic()
        if watch.held is None or watch.held[1] != snapshot.completed:
            watch.held = (now, snapshot.completed, False)
            return
        since, completed, reported = watch.held
        if not reported and now - since >= self.confirm_s:
            watch.held = (since, completed, True)
            frames = sys._current_frames()
            stacks = [user_frames(frames.get(i.thread_ident)) for i in snapshot.parked_items]
            title = f"the default executor wedged: {describe_parked(snapshot)}"
            evidence = grouped("parked worker(s)", stacks)
            self.sink("wedge", title, evidence, [title, *(line for s in stacks for line in s)])


def user_frames(frame: Any) -> list[str]:
    """A thread's stack, innermost last, as "file:line in function" lines: the code that
    ran or parked it, and the wait it is in, without the machinery's frames around them."""
    summary = traceback.extract_stack(frame) if frame is not None else []
    own = [i for i, entry in enumerate(summary) if not is_machinery(entry.filename)]
    last = own[-1] if own else -1
    keep = set(own) | set(list(range(last + 1, len(summary)))[-2:])
    return [f"{e.filename}:{e.lineno} in {e.name}" for i, e in enumerate(summary) if i in keep]


def grouped(what: str, stacks: list[list[str]]) -> str:
    """Identical stacks once each, with how many threads share it."""
    counts: dict[tuple[str, ...], int] = {}
    for stack in stacks:
        counts[tuple(stack)] = counts.get(tuple(stack), 0) + 1
    parts = []
    for stack, count in counts.items():
        parts.append(f"{count} {what} at:\n" + "\n".join(f"  {line}" for line in stack))
    return "\n".join(parts)
