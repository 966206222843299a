"""Loop responsiveness from outside: a cheap request sent beside the storm, timed.

A server whose event loop is blocked (a sync call inside an async handler, mcp python-sdk
#1646) still answers in the end, so a stall watch never fires; what shows is that even its
cheapest route (the health path) waits behind the blocking calls. The pinger sends one GET to
that path every PING_EVERY_S on its own connection, from its own thread, and records each
latency (a timeout counts as the timeout). The storm's report draws them as the
loop-responsiveness series; the loop-block verdict (verdict/loop_block.py) decides on them.
Bounded in count and time: at most MAX_PINGS, each cut at PING_TIMEOUT_S, loopback only.
"""

from __future__ import annotations

import threading
import time

import httpx

PING_EVERY_S = 0.1
PING_TIMEOUT_S = 2.0
MAX_PINGS = 20_000


class Pinger:
    def __init__(self, url: str, t0: float) -> None:
        self.url = url
        self.t0 = t0
        self.pings: list[tuple[float, float, bool]] = []  # (t_s sent, latency_s, answered)
        self._taken = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stampede-pinger", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=PING_TIMEOUT_S) as client:
            for _ in range(MAX_PINGS):
                if self._stop.is_set():
                    return
                sent = time.monotonic()
                try:
                    client.get(self.url)
                    answered = True
                except httpx.HTTPError:
                    answered = False
                latency = time.monotonic() - sent
                with self._lock:
                    self.pings.append((round(sent - self.t0, 3), latency, answered))
                self._stop.wait(max(0.0, PING_EVERY_S - latency))

    def take(self) -> list[tuple[float, float, bool]]:
        """The pings completed since the previous take."""
        with self._lock:
            new = self.pings[self._taken :]
            self._taken = len(self.pings)
        return new

    def close(self) -> None:
        self._stop.set()
        self._thread.join(PING_TIMEOUT_S + 0.5)
