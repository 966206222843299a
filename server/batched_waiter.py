"""The `batched` waiter: the future waiter's guarantees at the asyncio floor's cost.

The merged fix (`FutureWaiter`) gives every duplicate its own `shield(wrap_future(...))`: one
`call_soon_threadsafe` (a self-pipe write) and two extra futures per waiter, so releasing N
duplicates costs N cross-thread hand-offs. Here the hand-off happens once per (primary, loop):

- the first duplicate of a primary on a loop creates that loop's bridge and hooks it to the
  primary's `concurrent.futures.Future`;
- every duplicate on that loop parks a plain asyncio future of its own in the bridge;
- when the primary settles, its done-callback schedules one callback per loop
  (`call_soon_threadsafe`), which resolves every parked future there in one pass.

The fix's guarantees hold: each duplicate owns its future, so cancelling one (a timeout, a
client gone) only drops that future from the bridge and never strands the others; a duplicate
that arrives after the primary settled returns at once; and bridges are per loop, so duplicates
on several loops (threads) are each released on their own loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import ClassVar

from stampede.server.inflight import Inflight, Outcome

BridgeKey = tuple[str, asyncio.AbstractEventLoop]


@dataclass(eq=False)
class _LoopBridge:
    """The duplicates of one primary parked on one loop; touched only on that loop's thread."""

    loop: asyncio.AbstractEventLoop
    # An insertion-ordered set: FIFO release, O(1) removal of a cancelled duplicate.
    parked: dict[asyncio.Future[Outcome], None] = field(default_factory=dict)

    def release(self, settled: Future[Outcome]) -> None:
        parked, self.parked = self.parked, {}
        if settled.cancelled():
            for future in parked:
                future.cancel()
            return
        error = settled.exception()
        for future in parked:
            if future.done():  # a cancelled duplicate's future is done already
                continue
            if error is None:
                future.set_result(settled.result())
            else:
                future.set_exception(error)


@dataclass
class BatchedWaiter:
    name: ClassVar[str] = "batched"
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _bridges: dict[BridgeKey, _LoopBridge] = field(default_factory=dict)

    async def wait(self, inflight: Inflight) -> Outcome:
        if (outcome := inflight.outcome) is not None:
            return outcome
        loop = asyncio.get_running_loop()
        bridge = self._bridge(inflight, loop)
        future: asyncio.Future[Outcome] = loop.create_future()
        bridge.parked[future] = None
        try:
            return await future
        except asyncio.CancelledError:
            bridge.parked.pop(future, None)
            raise

    def _bridge(self, inflight: Inflight, loop: asyncio.AbstractEventLoop) -> _LoopBridge:
        key = (inflight.id, loop)
        with self._lock:
            bridge = self._bridges.get(key)
            if bridge is not None:
                return bridge
            bridge = self._bridges[key] = _LoopBridge(loop)
        # Outside the lock: on a future that settled meanwhile the callback runs right here.
        inflight.future.add_done_callback(lambda settled: self._schedule(key, bridge, settled))
        return bridge

    def _schedule(self, key: BridgeKey, bridge: _LoopBridge, settled: Future[Outcome]) -> None:
        """The primary settled (on any thread): hand the outcome to the bridge's loop once."""
        with self._lock:
            self._bridges.pop(key, None)
        # A loop that closed before the primary settled has nobody left to release.
        with contextlib.suppress(RuntimeError):
            bridge.loop.call_soon_threadsafe(bridge.release, settled)

    @property
    def orphaned_workers(self) -> int:
        return 0

    @property
    def bridges(self) -> int:
        """Bridges whose primary has not settled yet (one per primary and loop)."""
        with self._lock:
            return len(self._bridges)
