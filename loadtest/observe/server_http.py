"""Reads of a running stampede server by the compare runner: /metrics, /v1/status, and waiting
for the server's next gc pass (its health wait is the launcher's).

Every read is bounded by a short timeout and returns something empty on failure, so a server
that hangs costs the reading, never the run.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import httpx
from stampede.loadtest.observe.sampler import parse_server_metrics

READ_TIMEOUT_S = 0.5
GC_POLL_S = 0.05
# A pass is due every interval; the server's monitor checks on a 0.1 s tick. The bound
# for waiting on one: the interval plus this.
GC_WAIT_MARGIN_S = 0.5


class VariantError(Exception):
    """The variant could not run (server or Locust failed to start); the message says why."""


@functools.cache
def _http() -> httpx.Client:
    # One client for every status read: a new one builds a TLS context (a CA bundle load, a
    # quarter of a second on a busy machine) even for plain http, and a run makes dozens.
    return httpx.Client(timeout=READ_TIMEOUT_S)


def get_json(url: str, timeout: float = READ_TIMEOUT_S) -> dict[str, Any]:
    try:
        response = _http().get(url, timeout=max(0.05, timeout))
        response.raise_for_status()
        return dict(response.json())
    except (httpx.HTTPError, ValueError):
        return {}


def scrape_server(url: str) -> dict[str, Any]:
    try:
        response = _http().get(f"{url}/metrics", timeout=READ_TIMEOUT_S)
        response.raise_for_status()
        return parse_server_metrics(response.text)
    except (httpx.HTTPError, ValueError):
        return {}


@dataclass(frozen=True)
class GcState:
    passes: int  # gc passes the server's timer has run since it started
    interval_s: float


def gc_state(url: str, timeout: float = READ_TIMEOUT_S) -> GcState | None:
    """The `gc` block of /v1/status; None when unreadable (or a server without one)."""
    block = get_json(f"{url}/v1/status", timeout).get("gc")
    if not isinstance(block, dict):
        return None
    passes, interval = block.get("passes"), block.get("interval_s")
    if not isinstance(passes, int) or not isinstance(interval, int | float) or interval <= 0:
        return None
    return GcState(passes, float(interval))


def wait_gc_pass(url: str, after: int, until: float) -> GcState | None:
    """Poll until the server shows more than `after` gc passes; None if `until` (monotonic)
    comes first. Each read is cut to the time left, so this never overruns `until` by more
    than one short poll."""
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return None
        state = gc_state(url, timeout=min(READ_TIMEOUT_S, left))
        if state is not None and state.passes > after:
            return state
        time.sleep(max(0.0, min(GC_POLL_S, until - time.monotonic())))


def after_gc_pass(url: str, state: GcState | None, needed: int, until: float) -> bool:
    """Make sure at least `needed` gc passes have run, waiting at most the gc interval plus
    GC_WAIT_MARGIN_S (and never past `until`); True if they have."""
    if state is None:
        return False
    if state.passes >= needed:
        return True
    bound = min(time.monotonic() + state.interval_s + GC_WAIT_MARGIN_S, until)
    return wait_gc_pass(url, needed - 1, bound) is not None


STEADY_S = 1.0  # live tasks that stopped falling for this long have settled


def drain_tasks(
    url: str, start: Any, final: dict[str, Any], wait_s: float
) -> tuple[dict[str, Any], bool | None]:
    """A user's server after its clients are gone: poll (at most `wait_s`) until its live
    tasks are back at `start` or stopped falling for STEADY_S, so requests still finishing are
    not counted as leaked. (last reading, settled?); settled is None when nothing counts tasks."""
    if not isinstance(start, int) or not isinstance(final.get("event_loop_tasks"), int):
        return final, None
    until = time.monotonic() + wait_s
    lowest, since = final["event_loop_tasks"], time.monotonic()
    while lowest > start and time.monotonic() < until:
        if time.monotonic() - since >= STEADY_S:
            break  # steady above the start: what is left stays
        time.sleep(0.2)
        reading = scrape_server(url)
        tasks = reading.get("event_loop_tasks")
        if isinstance(tasks, int):
            final = reading
            if tasks < lowest:
                lowest, since = tasks, time.monotonic()
    return final, lowest <= start or time.monotonic() - since >= STEADY_S
