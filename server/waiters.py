"""How a duplicate invocation waits for its in-flight primary: two strategies, one interface.

- `ToThreadWaiter` is the pre-fix design of seed 001: `asyncio.to_thread(event.wait)` parks a
  worker of the loop's default executor for as long as the primary runs. Cancelling the await
  (a duplicate timeout, a client gone) does not free that worker: `event.wait` keeps it until
  the primary settles. Such a worker is counted as orphaned until then.
- `FutureWaiter` is the merged fix: each duplicate awaits
  `asyncio.shield(asyncio.wrap_future(inflight.future))`. No thread is held; the shield keeps
  one cancelled duplicate from cancelling the shared future under the others; a duplicate that
  registers after the primary settled finds the future done and returns at once.
- `BatchedWaiter` (server/batched_waiter.py) keeps those guarantees with one bridge per
  (primary, loop) instead of one per duplicate: what the fix costs at its best.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from stampede.probe.executor import tagged
from stampede.server.batched_waiter import BatchedWaiter
from stampede.server.inflight import Inflight, Outcome


class Waiter(Protocol):
    name: ClassVar[str]

    async def wait(self, inflight: Inflight) -> Outcome: ...

    @property
    def orphaned_workers(self) -> int: ...


@dataclass
class _Parking:
    """One parked worker's life, so an abandoned wait can be told from a live one."""

    started: bool = False
    finished: bool = False
    abandoned: bool = False


@dataclass
class ToThreadWaiter:
    name: ClassVar[str] = "to_thread"
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _orphaned: int = 0

    async def wait(self, inflight: Inflight) -> Outcome:
        parking = _Parking()
        with tagged("waiter", inflight.id):
            try:
                await asyncio.to_thread(self._park, inflight.done, parking)
            except asyncio.CancelledError:
                self._abandon(parking)
                raise
        assert inflight.outcome is not None  # the event is set only after the outcome
        return inflight.outcome

    def _park(self, event: threading.Event, parking: _Parking) -> None:
        with self._lock:
            parking.started = True
            # Abandoned while queued, but the cancel lost the race: it parks all the same.
            if parking.abandoned:
                self._orphaned += 1
        event.wait()
        with self._lock:
            parking.finished = True
            if parking.abandoned:
                self._orphaned -= 1

    def _abandon(self, parking: _Parking) -> None:
        with self._lock:
            parking.abandoned = True
            # A wait cancelled while still queued never parks; one already parked stays so.
            if parking.started and not parking.finished:
                self._orphaned += 1

    @property
    def orphaned_workers(self) -> int:
        with self._lock:
            return self._orphaned


@dataclass
class FutureWaiter:
    name: ClassVar[str] = "future"

    async def wait(self, inflight: Inflight) -> Outcome:
        return await asyncio.shield(asyncio.wrap_future(inflight.future))

    @property
    def orphaned_workers(self) -> int:
        return 0


WAITERS: dict[str, type[ToThreadWaiter] | type[FutureWaiter] | type[BatchedWaiter]] = {
    ToThreadWaiter.name: ToThreadWaiter,
    FutureWaiter.name: FutureWaiter,
    BatchedWaiter.name: BatchedWaiter,
}


def make_waiter(name: str) -> Waiter:
    try:
        return WAITERS[name]()
    except KeyError:
        raise ValueError(f"unknown waiter {name!r} (choose from {', '.join(WAITERS)})") from None
