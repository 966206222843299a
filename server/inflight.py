"""One in-flight primary invocation and the outcome its duplicates share.

The primary settles exactly once, in `settle`: it records the outcome, resolves a
`concurrent.futures.Future` (what the future and batched waiters bridge onto the event loop)
and sets a `threading.Event` (what the to_thread waiter parks a worker on), so every waiter
strategy sees the same outcome. Both are made on demand, by the first waiter that needs one:
most primaries have no duplicate, and each costs a Condition and its locks.

Ids come from a process-wide counter: they only need to be unique in the process (they tag
executor work), and `uuid4()` reads os.urandom with the GIL released, which on the event loop's
thread hands the GIL to a worker and waits to get it back, on every primary.
"""

from __future__ import annotations

import functools
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

    @functools.cached_property
    def as_duplicate(self) -> Outcome:
        """What a duplicate answers: this body with role "duplicate" (an error as it is).

        Made once per primary and shared by all its duplicates: bodies are never mutated,
        only rendered."""
        return Outcome(self.status, {**self.body, "role": "duplicate"}) if self.ok else self


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

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _outcome: Outcome | None = field(default=None, repr=False)
    _future: Future[Outcome] | None = field(default=None, repr=False)
    _done: threading.Event | None = field(default=None, repr=False)

    @property
    def future(self) -> Future[Outcome]:
        """Resolved once settled; made on first use (already resolved if settled by then)."""
        with self._lock:
            if self._future is None:
                self._future = Future()
                if self._outcome is not None:
                    self._future.set_result(self._outcome)
            return self._future

    @property
    def done(self) -> threading.Event:
        """Set once settled; made on first use (already set if settled by then)."""
        with self._lock:
            if self._done is None:
                self._done = threading.Event()
                if self._outcome is not None:
                    self._done.set()
            return self._done

    def settle(self, outcome: Outcome) -> bool:
        """Publish the outcome; False when it was already settled (e.g. aborted first)."""
        with self._lock:
            if self._outcome is not None:
                return False
            self._outcome = outcome
            future, done = self._future, self._done
        # Outside the lock: the future's done-callbacks (waiters' bridges) run right here.
        if future is not None:
            future.set_result(outcome)
        if done is not None:
            done.set()
        return True

    @property
    def outcome(self) -> Outcome | None:
        """The shared outcome, or None while the primary runs."""
        return self._outcome

    @property
    def settled(self) -> bool:
        return self._outcome is not None
