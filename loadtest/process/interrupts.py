"""One way to stop every command: SIGINT, SIGTERM and SIGHUP all mean "tear down and exit".

Ctrl-C, `kill`, `timeout`, a CI cancel and a closed terminal all end a run the same way: the
handler raises `Interrupted` (a KeyboardInterrupt, so every existing teardown path catches it),
the run stops its processes, removes its cgroups, leaves its results marked incomplete, and
the command exits with 128 + the signal's number, as a shell reports a signal death.
Async code runs under `run_async`, where a signal cancels the main task instead (an exception
raised inside a task would be reported as "never retrieved"), and Interrupted is raised once
the cancelled task has cleaned up.
SIGINT is installed explicitly too: a shell starts background jobs with SIGINT ignored, and
`kill -INT` should still stop the run cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Coroutine, Iterator
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")

TEARDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_received: list[int] = []  # every teardown signal seen by this process, in order


class Interrupted(KeyboardInterrupt):
    """Raised by the teardown handler; `signum` says which signal asked for it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise Interrupted(signum)


def exit_status() -> int:
    """128 + the first teardown signal received (130 when none was: a plain Ctrl-C)."""
    return 128 + (_received[0] if _received else signal.SIGINT)


@contextlib.contextmanager
def interrupts_tear_down() -> Iterator[None]:
    """Within the block, every teardown signal raises Interrupted (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise) for sig in TEARDOWN_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold teardown signals until the block ends, so starting or stopping a process is never
    cut in half (a process started but not yet recorded would be leaked). A held signal is
    then delivered to the handler that was in place: Interrupted in plain code, a cancel of
    the main task under run_async, the default action where nothing handles it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, frame: pending.append(signum))
        for sig in TEARDOWN_SIGNALS
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if pending:
            signal.raise_signal(pending[0])


_CANCELLED = object()


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run(main), where a teardown signal cancels `main` and, once it has unwound
    (its finally blocks stop what it started), raises Interrupted."""
    received: list[int] = []

    async def guarded() -> Any:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        # A plain handler, not loop.add_signal_handler: that one is fed through the loop's
        # self-pipe, which a busy loop (thousands of call_soon_threadsafe wake-ups) can fill,
        # and then the signal is lost. This one always runs; it only schedules the cancel.
        def cancel(signum: int, frame: FrameType | None) -> None:
            received.append(signum)
            _received.append(signum)
            loop.call_soon_threadsafe(task.cancel)

        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {sig: signal.signal(sig, cancel) for sig in TEARDOWN_SIGNALS}
        try:
            return await main
        except asyncio.CancelledError:
            if received:
                return _CANCELLED
            raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    result = asyncio.run(guarded())
    if result is _CANCELLED:
        raise Interrupted(received[0])
    return result  # type: ignore[no-any-return]
