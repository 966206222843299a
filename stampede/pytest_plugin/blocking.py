"""Callbacks that hold a test's event loop: each one timed, the machine's own slowness not
counted against it.

Every callback a loop runs (a task's step, a timer, a call_soon) goes through
`asyncio.events.Handle._run`, so timing that one method times them all: two clock reads per
callback. A callback that held its loop past the threshold is a finding, with the loop
thread's stack that the watchdog took while it held it (watchdog.py), else the callback's repr.

Not counted: time the loop thread spent in the garbage collector (gc.callbacks) and, on Linux,
time it waited for a CPU (the run-queue time in /proc/self/task/TID/schedstat, sampled by the
watchdog). On a busy machine a 50 ms callback can take 300 ms of wall time; that is the
machine's doing, not the test's, and a test must not fail because the machine is slow.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

# Bound at import: a test that patches time.monotonic (a fake clock) must not reach us.
from time import perf_counter
from typing import Any

from stampede.pytest_plugin.loops import LoopWatch, Registry

# Told each slow callback: (title, evidence, texts for the allow-list)
Sink = Callable[[str, str, list[str]], None]


def run_queue_s(native_id: int | None) -> float | None:
    """Seconds the thread has waited for a CPU since it started (Linux), else None."""
    if native_id is None:
        return None
    try:
        with open(f"/proc/self/task/{native_id}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


class SlowCallbacks:
    def __init__(self, registry: Registry, sink: Sink, block_s: float) -> None:
        self.registry = registry
        self.sink = sink
        self.block_s = block_s
        self.gc_s = 0.0  # seconds in the collector, all threads (it holds the GIL)
        self._gc_started: float | None = None
        self._original = asyncio.events.Handle._run

    def install(self) -> None:
        original, block_s, slow = self._original, self.block_s, self._slow
        clock = perf_counter

        def _run(handle: asyncio.Handle) -> None:
            start, gc_before = clock(), self.gc_s
            try:
                original(handle)
            finally:
                took = clock() - start
                if took >= block_s:
                    slow(handle, start, took, self.gc_s - gc_before)

        asyncio.events.Handle._run = _run  # type: ignore[method-assign]
        gc.callbacks.append(self._gc)

    def uninstall(self) -> None:
        asyncio.events.Handle._run = self._original  # type: ignore[method-assign]
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = perf_counter()
        elif self._gc_started is not None:
            self.gc_s += perf_counter() - self._gc_started
            self._gc_started = None

    def _slow(self, handle: asyncio.Handle, start: float, took: float, in_gc: float) -> None:
        loop = getattr(handle, "_loop", None)
        watch: LoopWatch | None = self.registry.loops.get(loop) if loop is not None else None
        if watch is None:
            return
        waited = 0.0
        now_queue = run_queue_s(watch.native_id)
        before = [queued for at, queued in list(watch.sched) if at <= start]
        if now_queue is not None and before:
            waited = max(0.0, now_queue - before[-1])
        held = took - in_gc - waited
        if held < self.block_s:
            return
        title = f"a callback held the event loop for {held:.2f} s"
        not_counted = [f"{s:.2f} s {what}" for s, what in ((waited, "waiting for a CPU"),
                       (in_gc, "in the garbage collector")) if s >= 0.01]  # fmt: skip
        if not_counted:
            title += f" (not counting {' and '.join(not_counted)})"
        stack = []
        if watch.stall_stack is not None and watch.stall_stack[0] >= start:
            stack = watch.stall_stack[1]
        evidence = f"the callback: {handle!r}"
        if stack:
            evidence += "\nthe loop thread was here:\n" + "\n".join(f"  {s}" for s in stack)
        resumed = task_step(handle)
        if resumed:
            lines = "\n".join(f"  {s}" for s in resumed)
            evidence += f"\nits task, and where it waits now:\n{lines}"
        self.sink(title, evidence, [repr(handle), *stack, *resumed])


def task_step(handle: asyncio.Handle) -> list[str]:
    """For a task's step: where its coroutine waits now, right after the step that held the
    loop (the lines just past the blocking code)."""
    callback = getattr(handle, "_callback", None)
    task = getattr(callback, "__self__", None)
    if not isinstance(task, asyncio.Task):
        return []
    name = getattr(task.get_coro(), "__qualname__", "?")
    lines = [f"{f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_name}" for f in task.get_stack()]
    return [f"task {task.get_name()!r} ({name})", *lines]
