"""One in-flight primary invocation and the outcome its duplicates share.

The primary settles exactly once: it resolves a `concurrent.futures.Future` (what the future
waiter bridges onto the event loop) and sets a `threading.Event` (what the to_thread waiter
parks a worker on). Both happen in `settle`, so every waiter strategy sees the same outcome.
"""

from __future__ import annotations

import threading
import time
import uuid
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


@dataclass
class Inflight:
    agent_id: str
    key: str | None
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: float = field(default_factory=time.time)
    future: Future[Outcome] = field(default_factory=Future)
    done: threading.Event = field(default_factory=threading.Event)

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def settle(self, outcome: Outcome) -> bool:
        """Publish the outcome; False when it was already settled (e.g. aborted first)."""
        with self._lock:
            if self.future.done():
                return False
            self.future.set_result(outcome)
        self.done.set()
        return True

    @property
    def settled(self) -> bool:
        return self.done.is_set()
