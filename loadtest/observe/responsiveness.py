"""Loop responsiveness from outside: a cheap request sent beside the storm, timed.

A server whose event loop is blocked (a sync call inside an async handler, mcp python-sdk
#1646) still answers in the end, so a stall watch never fires; what shows is that even its
cheapest route (the health path) waits behind the blocking calls. The pinger sends one GET to
that path every PING_EVERY_S on its own connection, from its own thread, and records each
latency (a timeout counts as the timeout). The storm's report draws them as the
loop-responsiveness series; the loop-block verdict (verdict/loop_block.py) decides on them.

`overlap=True` (the thread-limiter scenario's sync health route) sends a check every
OVERLAP_EVERY_S whether or not the previous one answered, each on a thread of a small pool: one
at a time, a route that never answers would get one check per timeout, and the checks sent
while it is stuck are what the sync-health finding counts (verdict/thread_limiter.py).
Bounded in count and time: at most MAX_PINGS, each cut at PING_TIMEOUT_S, at most
OVERLAP_IN_FLIGHT at once, loopback only.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

PING_EVERY_S = 0.1
PING_TIMEOUT_S = 2.0
MAX_PINGS = 20_000
OVERLAP_EVERY_S = 0.25
OVERLAP_IN_FLIGHT = int(PING_TIMEOUT_S / OVERLAP_EVERY_S) + 2  # never more: each is cut first


class Pinger:
    def __init__(self, url: str, t0: float, overlap: bool = False) -> None:
        self.url = url
        self.t0 = t0
        self.overlap = overlap
        self.pings: list[tuple[float, float, bool]] = []  # (t_s sent, latency_s, answered)
        self._taken = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stampede-pinger", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if self.overlap:
            self._run_overlapping()
            return
        with httpx.Client(timeout=PING_TIMEOUT_S) as client:
            for _ in range(MAX_PINGS):
                if self._stop.is_set():
                    return
                latency = self._check(client)
                self._stop.wait(max(0.0, PING_EVERY_S - latency))

    def _run_overlapping(self) -> None:
        n = OVERLAP_IN_FLIGHT
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        with (
            httpx.Client(timeout=PING_TIMEOUT_S, limits=limits) as client,
            ThreadPoolExecutor(n, thread_name_prefix="stampede-pinger") as pool,
        ):
            for _ in range(MAX_PINGS):
                if self._stop.is_set():
                    return  # leaving the pool waits for the checks in flight (each is cut)
                pool.submit(self._check, client)
                self._stop.wait(OVERLAP_EVERY_S)

    def _check(self, client: httpx.Client) -> float:
        """One check, recorded; its latency."""
        sent = time.monotonic()
        try:
            client.get(self.url)
            answered = True
        except httpx.HTTPError:
            answered = False
        latency = time.monotonic() - sent
        with self._lock:
            self.pings.append((round(sent - self.t0, 3), latency, answered))
        return latency

    def take(self) -> list[tuple[float, float, bool]]:
        """The pings completed since the previous take."""
        with self._lock:
            new = self.pings[self._taken :]
            self._taken = len(self.pings)
        return new

    def close(self) -> None:
        self._stop.set()
        self._thread.join(PING_TIMEOUT_S + 0.5)
