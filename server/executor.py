"""The loop's default executor, sized like CPython's and instrumented.

`asyncio.to_thread` submits from the calling task, in that task's context, so two context
variables set around the call tell the executor what each work item is (a model call, a
parked waiter, or anything else) and which in-flight invocation it belongs to. The executor
keeps the queued and running items under one lock, so a snapshot is exact at any moment.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

WorkKind = Literal["model", "waiter", "other"]
KINDS: tuple[WorkKind, ...] = ("model", "waiter", "other")

work_kind: ContextVar[WorkKind] = ContextVar("stampede_work_kind", default="other")
work_owner: ContextVar[str | None] = ContextVar("stampede_work_owner", default=None)


@contextlib.contextmanager
def tagged(kind: WorkKind, owner: str | None) -> Iterator[None]:
    """Label the executor work submitted inside this block."""
    kind_token = work_kind.set(kind)
    owner_token = work_owner.set(owner)
    try:
        yield
    finally:
        work_owner.reset(owner_token)
        work_kind.reset(kind_token)


@dataclass
class WorkItem:
    id: int
    kind: WorkKind
    owner: str | None
    submitted_at: float
    started_at: float | None = None
    thread_name: str | None = None
    # submit() raised (no thread could start) after queueing it: it must never run.
    abandoned: bool = False


@dataclass(frozen=True)
class ExecutorSnapshot:
    max_workers: int
    threads: int
    running: tuple[WorkItem, ...] = field(default_factory=tuple)
    queued: tuple[WorkItem, ...] = field(default_factory=tuple)

    def busy_by_kind(self) -> dict[WorkKind, int]:
        counts = Counter(item.kind for item in self.running)
        return {kind: counts.get(kind, 0) for kind in KINDS}

    def queued_by_kind(self) -> dict[WorkKind, int]:
        counts = Counter(item.kind for item in self.queued)
        return {kind: counts.get(kind, 0) for kind in KINDS}


class InstrumentedExecutor(ThreadPoolExecutor):
    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="stampede-pool")
        self.max_workers = max_workers
        self._state_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._queued: dict[int, WorkItem] = {}
        self._running: dict[int, WorkItem] = {}

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        item = WorkItem(next(self._ids), work_kind.get(), work_owner.get(), time.monotonic())
        with self._state_lock:
            self._queued[item.id] = item
        try:
            future = super().submit(self._run, item, fn, args, kwargs)
        except BaseException:
            # ThreadPoolExecutor queues the item before starting a thread; if the start fails,
            # the caller got the exception, so a later worker must skip the item, not run it.
            with self._state_lock:
                item.abandoned = True
            self._forget(item)
            raise
        # A queued item cancelled before it ran never reaches _run's finally.
        future.add_done_callback(lambda f: self._forget(item) if f.cancelled() else None)
        return future

    def _run(
        self, item: WorkItem, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict
    ) -> Any:
        with self._state_lock:
            self._queued.pop(item.id, None)
            if item.abandoned:
                return None
            item.started_at = time.monotonic()
            item.thread_name = threading.current_thread().name
            self._running[item.id] = item
        try:
            return fn(*args, **kwargs)
        finally:
            with self._state_lock:
                self._running.pop(item.id, None)

    def _forget(self, item: WorkItem) -> None:
        with self._state_lock:
            self._queued.pop(item.id, None)

    def snapshot(self) -> ExecutorSnapshot:
        with self._state_lock:
            return ExecutorSnapshot(
                max_workers=self.max_workers,
                threads=len(self._threads),
                running=tuple(self._running.values()),
                queued=tuple(self._queued.values()),
            )

    def cancel_queued(self) -> None:
        """Drop every queued item (their futures are cancelled) and accept no more work."""
        self.shutdown(wait=False, cancel_futures=True)
