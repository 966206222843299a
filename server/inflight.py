"""One in-flight primary invocation and the outcome its duplicates share.

The primary settles exactly once: it resolves a `concurrent.futures.Future` (what the future
and batched waiters bridge onto the event loop) and sets a `threading.Event` (what the to_thread
waiter parks a worker on). Both happen in `settle`, so every waiter strategy sees the same
outcome. The Event is made on demand, since only the to_thread waiter needs one.

Ids come from a process-wide counter: they only need to be unique in the process (they tag
executor work), and `uuid4()` reads os.urandom with the GIL released, which on the event loop's
thread hands the GIL to a worker and waits to get it back, on every primary.
"""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """An HTTP status and JSON body: what the primary answered, shared by its duplicates."""

    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status < 400


_ids = itertools.count(1)


def next_id() -> str:
    """A process-unique id for one in-flight invocation, e.g. "inv-1f"."""
    return f"inv-{next(_ids):x}"


@dataclass(eq=False)
class Inflight:
    agent_id: str
    key: str | None
    id: str = field(default_factory=next_id)
    started_at: float = field(default_factory=time.time)
    future: Future[Outcome] = field(default_factory=Future)

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _done: threading.Event | None = field(default=None, repr=False)

    @property
    def done(self) -> threading.Event:
        """Set once settled; made on first use (already set if the primary has settled)."""
        with self._lock:
            if self._done is None:
                self._done = threading.Event()
                if self.future.done():
                    self._done.set()
            return self._done

    def settle(self, outcome: Outcome) -> bool:
        """Publish the outcome; False when it was already settled (e.g. aborted first)."""
        with self._lock:
            if self.future.done():
                return False
            self.future.set_result(outcome)
            done = self._done
        if done is not None:
            done.set()
        return True

    @property
    def settled(self) -> bool:
        return self.future.done()
