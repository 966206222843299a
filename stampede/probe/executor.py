"""The loop's default executor, sized like CPython's and instrumented.

`asyncio.to_thread` submits from the calling task, in that task's context, so a context
variable set around the call tells the executor what each work item is (a model call, a
parked waiter, or anything else) and which in-flight invocation it belongs to. Code that tags
nothing gets kind "other". The tag is one (kind, owner) pair in one variable, set by a small
class rather than a generator-based context manager: it is on every request's path.

The executor keeps the queued and running items under one lock, so a snapshot is exact at any
moment; a snapshot with `stacks=True` also says which running items have their worker parked
in a wait primitive (see stacks.py).

Its threads are named like CPython's default executor's (`asyncio_N`), so a probed server's
stacks read the same as an unprobed one's.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field

# Bound at import: a test that patches time.monotonic (a fake clock) must not reach us.
from time import monotonic
from typing import Any, Literal

from stampede.probe.stacks import parked_threads

WorkKind = Literal["model", "waiter", "other"]
KINDS: tuple[WorkKind, ...] = ("model", "waiter", "other")

UNTAGGED: tuple[WorkKind, str | None] = ("other", None)
work_tag: ContextVar[tuple[WorkKind, str | None]] = ContextVar(
    "stampede_work_tag", default=UNTAGGED
)


def work_owner() -> str | None:
    """The owner the work submitted from here would be tagged with."""
    return work_tag.get()[1]


class tagged:
    """`with tagged(kind, owner):` labels the executor work submitted inside the block."""

    __slots__ = ("_tag", "_token")

    def __init__(self, kind: WorkKind, owner: str | None) -> None:
        self._tag = (kind, owner)

    def __enter__(self) -> None:
        self._token = work_tag.set(self._tag)

    def __exit__(self, *exc_info: object) -> None:
        work_tag.reset(self._token)


@dataclass(slots=True)
class WorkItem:
    id: int
    kind: WorkKind
    owner: str | None
    submitted_at: float
    started_at: float | None = None
    thread_name: str | None = None
    thread_ident: int | None = None
    future: Future[Any] | None = field(default=None, repr=False)
    # submit() raised (no thread could start) after queueing it: it must never run.
    abandoned: bool = False


@dataclass(frozen=True)
class ExecutorSnapshot:
    max_workers: int
    threads: int
    running: tuple[WorkItem, ...] = field(default_factory=tuple)
    queued: tuple[WorkItem, ...] = field(default_factory=tuple)
    completed: int = 0  # items that ran to the end (or raised) since the executor started
    parked: frozenset[int] = frozenset()  # ids of running items whose worker waits on a lock

    @property
    def parked_items(self) -> tuple[WorkItem, ...]:
        return tuple(item for item in self.running if item.id in self.parked)

    def busy_by_kind(self) -> dict[WorkKind, int]:
        counts = Counter(item.kind for item in self.running)
        return {kind: counts.get(kind, 0) for kind in KINDS}

    def queued_by_kind(self) -> dict[WorkKind, int]:
        counts = Counter(item.kind for item in self.queued)
        return {kind: counts.get(kind, 0) for kind in KINDS}


def default_pool_size() -> int:
    """The size CPython gives a loop's default executor on this interpreter and host."""
    count = getattr(os, "process_cpu_count", os.cpu_count)()  # 3.13+: affinity-aware
    return min(32, (count or 1) + 4)


class InstrumentedExecutor(ThreadPoolExecutor):
    def __init__(self, max_workers: int | None = None) -> None:
        max_workers = max_workers or default_pool_size()
        super().__init__(max_workers=max_workers, thread_name_prefix="asyncio")
        self.max_workers = max_workers
        self._state_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._queued: dict[int, WorkItem] = {}
        self._running: dict[int, WorkItem] = {}
        self._completed = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        kind, owner = work_tag.get()
        item = WorkItem(next(self._ids), kind, owner, monotonic())
        with self._state_lock:
            self._queued[item.id] = item
        try:
            item.future = super().submit(self._run, item, fn, args, kwargs)
        except BaseException:
            # ThreadPoolExecutor queues the item before starting a thread; if the start fails,
            # the caller got the exception, so a later worker must skip the item, not run it.
            with self._state_lock:
                item.abandoned = True
            self._forget(item)
            raise
        # A queued item cancelled before it ran never reaches _run: snapshot() drops it (a
        # done-callback per item would cost every submit what only cancellations need).
        return item.future

    def _run(
        self, item: WorkItem, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict
    ) -> Any:
        thread = threading.current_thread()
        with self._state_lock:
            self._queued.pop(item.id, None)
            if item.abandoned:
                return None
            item.started_at = monotonic()
            item.thread_name = thread.name
            item.thread_ident = thread.ident
            self._running[item.id] = item
        try:
            return fn(*args, **kwargs)
        finally:
            with self._state_lock:
                self._running.pop(item.id, None)
                self._completed += 1

    def _forget(self, item: WorkItem) -> None:
        with self._state_lock:
            self._queued.pop(item.id, None)

    def _drop_cancelled(self) -> None:
        """Forget queued items whose future was cancelled (they will never run); under lock."""
        cancelled = [
            i for i, item in self._queued.items() if item.future and item.future.cancelled()
        ]
        for item_id in cancelled:
            del self._queued[item_id]

    def snapshot(self, *, stacks: bool = False) -> ExecutorSnapshot:
        """The executor now; with `stacks`, also which running items' workers are parked."""
        with self._state_lock:
            self._drop_cancelled()
            running = tuple(self._running.values())
            queued = tuple(self._queued.values())
            completed = self._completed
            threads = len(self._threads)
        parked: frozenset[int] = frozenset()
        if stacks and running:
            by_thread = {item.thread_ident: item.id for item in running}
            waiting = parked_threads(ident for ident in by_thread if ident is not None)
            # Re-read after the stacks: an item that ended meanwhile is not parked.
            with self._state_lock:
                still = {item.id for item in self._running.values()}
            parked = frozenset(by_thread[i] for i in waiting if by_thread[i] in still)
        return ExecutorSnapshot(self.max_workers, threads, running, queued, completed, parked)

    def cancel_queued(self) -> None:
        """Drop every queued item (their futures are cancelled) and accept no more work."""
        self.shutdown(wait=False, cancel_futures=True)
