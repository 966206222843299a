"""The seed's pre-fix idempotency waiter, swapped into strands' in-flight invocation: a what-if.

Every strands release with `idempotency_token` (1.45.0 on) ships the fixed waiter: a duplicate
awaits `_InflightInvocation.register_waiter()`, an `asyncio.shield(asyncio.wrap_future(...))`
that holds no thread. The pre-fix code (seed 001, never released) instead did
`await asyncio.to_thread(done.wait)`, parking one default-executor worker per waiting
duplicate until the primary settles. `install()` replaces `register_waiter` with that, at
start-up, once per process.

Concurrency model: the replacement is class-wide, but it only parks inside `prefix_scope()`:
the invocation service enters that scope (a context variable) around its duplicates, so the
patch cannot reach agents of a server that asked for strands as released. The parked wait goes
through the builtin ToThreadWaiter's bookkeeping, so `orphaned_waiter_workers` counts workers
still parked for duplicates that gave up (a 504) exactly as it does for the builtin agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Any

from stampede.server.sdk import SdkMissingError
from stampede.server.waiters import ToThreadWaiter, _Parking
from strands.agent import _concurrency

LABEL = "with pre-fix waiter"

_active: ContextVar[ToThreadWaiter | None] = ContextVar("stampede_prefix_waiter", default=None)
_released: Callable[[Any], Awaitable[Any]] | None = None


def install() -> None:
    """Swap the pre-fix waiter into `_InflightInvocation.register_waiter` (idempotent)."""
    global _released
    if _released is not None:
        return
    inflight_cls = getattr(_concurrency, "_InflightInvocation", None)
    if not callable(getattr(inflight_cls, "register_waiter", None)):
        # A private hook: present in every release from 1.45.0 to 1.62.0, gone if strands moves it.
        raise SdkMissingError(
            f"--waiter to_thread with --agent strands swaps strands' "
            f"_InflightInvocation.register_waiter, which strands-agents "
            f"{importlib.metadata.version('strands-agents')} does not have; use --waiter future"
        )
    _released = inflight_cls.register_waiter
    released = _released

    def register_waiter(self: Any) -> Awaitable[Any]:
        waiter = _active.get()
        if waiter is None:
            return released(self)
        # The seed's waiter blocked on a threading.Event; strands now signals through a
        # concurrent future, so an Event set by the future's done-callback stands in for it
        # (set at once if the primary has already settled).
        done = threading.Event()
        self._done.add_done_callback(lambda _future: done.set())
        return park(waiter, done)

    inflight_cls.register_waiter = register_waiter


def installed() -> bool:
    return _released is not None


async def park(waiter: ToThreadWaiter, done: threading.Event) -> None:
    """`await asyncio.to_thread(done.wait)`, with the builtin waiter's orphan accounting."""
    parking = _Parking()
    try:
        await asyncio.to_thread(waiter._park, done, parking)
    except asyncio.CancelledError:
        # The worker stays parked until the primary settles: an orphan from now on.
        waiter._abandon(parking)
        raise


@contextlib.contextmanager
def prefix_scope(waiter: ToThreadWaiter | None) -> Iterator[None]:
    """Duplicates awaited inside this block wait with the pre-fix waiter (None: as released)."""
    token = _active.set(waiter)
    try:
        yield
    finally:
        _active.reset(token)
