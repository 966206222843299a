"""Every event loop a test makes, watched: an event loop policy that instruments each new loop.

pytest-asyncio, anyio's pytest plugin and `asyncio.run` all make their loops through the
policy's `new_event_loop`, so wrapping the policy (whatever it was: uvloop's works the same)
reaches every test's loop without knowing the runner. Each loop gets:

- the probe's instrumented default executor (which items run, which workers are parked);
- the probe's counting exception handler (loop_errors.py), chained to the default one, whose
  reports become findings of the test running at the time;
- a task factory that records where each task was created (a few frames, not a traceback
  object: it is on every `create_task`);
- a heartbeat, a timer every BEAT_S, that the watchdog thread reads to see a blocked loop.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

# Bound at import: a test that patches time.monotonic (a fake clock) must not reach us.
from time import monotonic
from typing import Any

from stampede.probe import loop_errors
from stampede.probe.executor import InstrumentedExecutor

BEAT_S = 0.05
CREATION_FRAMES = 12
RAW_FRAMES = 16
# The frames of the machinery around user code (asyncio, the thread pools, pytest and its
# runners): left out of the stacks in the evidence, which then show the test's own code.
MACHINERY = (
    "/asyncio/",
    "/threading.py",
    "/concurrent/futures/thread.py",
    "/stampede/probe/executor.py",
    "/stampede/pytest_plugin/",
    "/_pytest/",
    "/pluggy/",
    "/pytest_asyncio/",
    "/anyio/pytest_plugin.py",
    "/pytest/__main__.py",
    "<frozen runpy>",
)


@functools.lru_cache(maxsize=4096)
def is_machinery(filename: str) -> bool:
    name = filename.replace("\\", "/")
    return any(part in name for part in MACHINERY)


Frame = tuple[str, int, str]  # (file, line, function)
# Told each loop error: (kind, message, exception, context)
ErrorSink = Callable[[str, str, BaseException | None, dict[str, Any]], None]


@dataclass
class LoopWatch:
    # Weak: a watch must not keep a closed loop (and its executor's threads) alive.
    loop_ref: weakref.ReferenceType[asyncio.AbstractEventLoop]
    executor: InstrumentedExecutor
    last_beat: float = 0.0
    thread: int | None = None
    native_id: int | None = None  # the loop thread's, for its scheduler statistics
    # (perf_counter time, the loop thread's run-queue seconds then), the latest few: sampled
    # by the watchdog
    sched: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=8))
    # (perf_counter time, the loop thread's stack then): taken while a callback held the loop
    stall_stack: tuple[float, list[str]] | None = None
    # The general wedge rule holding: (since, completed count then, reported yet)
    held: tuple[float, int, bool] | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self.loop_ref()


def creation_stack() -> list[tuple[Any, int]]:
    """Where the task being created comes from: the innermost RAW_FRAMES frames as (code,
    instruction offset) pairs, unfiltered. It runs on every create_task, so the line numbers
    and the filtering (the machinery's frames out) wait until a finding needs the stack:
    `own_frames`."""
    frame: Any = sys._getframe(1)
    out: list[tuple[Any, int]] = []
    for _ in range(RAW_FRAMES):
        if frame is None:
            break
        out.append((frame.f_code, frame.f_lasti))
        frame = frame.f_back
    return out


def _line(code: Any, offset: int) -> int:
    for start, end, line in code.co_lines():
        if start <= offset < end:
            return line or code.co_firstlineno
    return code.co_firstlineno


def own_frames(raw: list[tuple[Any, int]]) -> list[Frame]:
    """A creation stack's own frames, outermost machinery and asyncio left out."""
    own = [(code, offset) for code, offset in raw if not is_machinery(code.co_filename)]
    return [(c.co_filename, _line(c, o), c.co_name) for c, o in own[:CREATION_FRAMES]]


class Registry:
    """The watched loops, the creation stack of each task they made, and the error sink."""

    def __init__(self, sink: ErrorSink) -> None:
        self.sink = sink
        self.loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopWatch] = (
            weakref.WeakKeyDictionary()
        )
        # task -> (its creation number, where it was created: creation_stack's raw frames)
        self.origins: weakref.WeakKeyDictionary[asyncio.Future[Any], tuple[int, list[Any]]] = (
            weakref.WeakKeyDictionary()
        )
        self._numbers = itertools.count(1)
        self.last_number = 0
        self._lock = threading.Lock()

    def watch(self, loop: asyncio.AbstractEventLoop) -> asyncio.AbstractEventLoop:
        executor = InstrumentedExecutor()
        loop.set_default_executor(executor)
        state = LoopWatch(weakref.ref(loop), executor)
        self._sticky_handler(loop)
        loop.set_task_factory(self._factory(state))
        ref = weakref.ref(loop)

        def beat() -> None:
            state.last_beat = monotonic()
            state.thread = threading.get_ident()
            state.native_id = threading.get_native_id()
            running = ref()
            if running is not None and not running.is_closed():
                running.call_later(BEAT_S, beat)

        loop.call_soon(beat)
        with self._lock:
            self.loops[loop] = state
        return loop

    def _sticky_handler(self, loop: asyncio.AbstractEventLoop) -> None:
        """Count every report first, then hand it to the program's own handler. A runner
        may set one (anyio's test runner does): it goes behind this one, not in its place."""
        detector = loop_errors.Detector(lambda kind: None)
        theirs: list[Any] = [loop.get_exception_handler()]

        def handler(loop_: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            message = str(context.get("message", ""))
            exception = context.get("exception")
            kind = detector.report(message, exception)
            if kind is not None:
                self.sink(kind, message, exception, context)
            if theirs[0] is not None:
                theirs[0](loop_, context)
            else:
                loop_.default_exception_handler(context)

        loop.set_exception_handler(handler)
        # Instance attributes: this loop only, and gone with it.
        loop.set_exception_handler = lambda h: theirs.__setitem__(0, h)  # type: ignore[method-assign]
        loop.get_exception_handler = lambda: theirs[0]  # type: ignore[method-assign]

    def _factory(self, state: LoopWatch) -> Callable[..., asyncio.Future[Any]]:
        origins = self.origins

        def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
            task = asyncio.Task(coro, loop=loop, **kwargs)
            self.last_number = number = next(self._numbers)
            origins[task] = (number, creation_stack())
            return task

        return factory

    def watches(self, closed: bool = False) -> list[LoopWatch]:
        """The watched loops that still exist (with `closed`, also those closed since)."""
        with self._lock:
            items = list(self.loops.items())
        return [w for loop, w in items if closed or not loop.is_closed()]


class WatchingPolicy(asyncio.AbstractEventLoopPolicy):
    """The policy that was in place, with every new loop watched."""

    def __init__(self, inner: asyncio.AbstractEventLoopPolicy, registry: Registry) -> None:
        self.inner = inner
        self.registry = registry

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return self.registry.watch(self.inner.new_event_loop())

    def get_event_loop(self) -> asyncio.AbstractEventLoop:
        return self.inner.get_event_loop()

    def set_event_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self.inner.set_event_loop(loop)

    def get_child_watcher(self) -> Any:  # pragma: no cover - deprecated, Unix only
        return self.inner.get_child_watcher()  # type: ignore[attr-defined]

    def set_child_watcher(self, watcher: Any) -> None:  # pragma: no cover
        self.inner.set_child_watcher(watcher)  # type: ignore[attr-defined]
