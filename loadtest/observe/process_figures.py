"""The server's process tree in three figures (threads, RSS, open fds), read at the variant's
start and again after the storm's clients are gone and the server drained.

The leak verdict (verdict/resource_leak.py) compares the two, beside the sampler's series over
the storm: a resource that kept growing with the load and is still held after the drain is a
leak. A request still finishing holds its thread and socket for a moment after the clients
leave, so the end reading waits (bounded) until the threads are back at the start or have
stopped falling, as the probe's live tasks do (server_http.drain_tasks). Black-box: psutil,
no cooperation from the server.
"""

from __future__ import annotations

import time
from typing import Any

import psutil

STEADY_S = 1.0  # threads that stopped falling for this long have settled
POLL_S = 0.2


def process_figures(pid: int | None) -> dict[str, int]:
    """Threads, RSS and open fds summed over the process and its children ({} if gone)."""
    if pid is None:
        return {}
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return {}
    totals = {"threads": 0, "rss_bytes": 0, "open_fds": 0}
    for process in tree:
        try:
            with process.oneshot():
                totals["threads"] += process.num_threads()
                totals["rss_bytes"] += process.memory_info().rss
                totals["open_fds"] += process.num_fds()
        except psutil.Error:  # a child that ended meanwhile
            continue
    return totals


def drained_figures(pid: int | None, start: dict[str, Any], wait_s: float) -> dict[str, Any]:
    """The figures once the threads are back at the start's count, or have not fallen for
    STEADY_S, polled for at most `wait_s`; `settled` says which (False: still falling)."""
    reading = process_figures(pid)
    if not reading or not isinstance(start.get("threads"), int):
        return reading
    until = time.monotonic() + wait_s
    lowest, since = reading["threads"], time.monotonic()
    while lowest > start["threads"] and time.monotonic() < until:
        if time.monotonic() - since >= STEADY_S:
            break
        time.sleep(POLL_S)
        now = process_figures(pid)
        if not now:
            break
        reading = now
        if now["threads"] < lowest:
            lowest, since = now["threads"], time.monotonic()
    settled = lowest <= start["threads"] or time.monotonic() - since >= STEADY_S
    return {**reading, "settled": settled}
