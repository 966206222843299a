"""The pinger beside the storm: one cheap GET at a time, each latency kept, bounded on close."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from stampede.loadtest.observe.responsiveness import (
    OVERLAP_EVERY_S,
    OVERLAP_IN_FLIGHT,
    PING_TIMEOUT_S,
    Pinger,
)
from stampede.loadtest.observe.sampler import parse_server_metrics

DELAY = {"s": 0.0}


class Slow(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        # Held for DELAY, in short sleeps: a test that sets DELAY back to 0 releases every held
        # request at once, so no handler thread outlives the test.
        held_until = time.monotonic() + DELAY["s"]
        while DELAY["s"] > 0 and time.monotonic() < held_until:
            time.sleep(0.02)
        try:
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the check was cut at its timeout and its socket closed: nothing to answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    DELAY["s"] = 0.0
    httpd.shutdown()
    httpd.server_close()  # joins the handler threads


def wait_for(pinger: Pinger, n: int) -> None:
    for _ in range(400):  # bounded: 400 x 50 ms
        if len(pinger.pings) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"only {len(pinger.pings)} pings")


def test_each_ping_records_its_latency_and_take_returns_only_new_ones(server: str) -> None:
    DELAY["s"] = 0.0
    pinger = Pinger(server + "/healthz", time.monotonic())
    try:
        wait_for(pinger, 3)
        first = pinger.take()
        assert len(first) >= 3 and all(answered for _, _, answered in first)
        DELAY["s"] = 0.3  # a loop held by a blocking call: the ping waits for it
        wait_for(pinger, len(first) + 2)
        slow = pinger.take()
        assert slow and all(t >= first[-1][0] for t, _, _ in slow)
        assert max(latency for _, latency, _ in slow) >= 0.3
    finally:
        started = time.monotonic()
        pinger.close()
    assert time.monotonic() - started <= PING_TIMEOUT_S + 1.0
    assert not pinger._thread.is_alive()


def test_overlapping_checks_keep_coming_while_the_route_never_answers(server: str) -> None:
    """A route stuck past the timeout: one-at-a-time checks would be one per timeout; the
    overlapping pinger keeps sending, each check cut at the timeout, a bounded number at once."""
    DELAY["s"] = PING_TIMEOUT_S + 1.0  # every check outlasts its timeout
    pinger = Pinger(server + "/healthz", time.monotonic(), overlap=True)
    try:
        wait_for(pinger, 6)
        cut = pinger.take()
        assert len(cut) >= 6 and not any(answered for _, _, answered in cut)
        assert all(latency >= PING_TIMEOUT_S for _, latency, _ in cut)
        # Overlapping: a check went out while the one before it was still waiting.
        checks = sorted((t, t + latency) for t, latency, _ in cut)
        assert any(nxt[0] < prev[1] for prev, nxt in itertools.pairwise(checks))
        assert OVERLAP_IN_FLIGHT * OVERLAP_EVERY_S > PING_TIMEOUT_S  # none waits for a slot
        DELAY["s"] = 0.0
        wait_for(pinger, len(cut) + 3)
        assert any(answered for _, _, answered in pinger.take())
    finally:
        started = time.monotonic()
        pinger.close()
    assert time.monotonic() - started <= PING_TIMEOUT_S + 1.0
    assert not pinger._thread.is_alive()


def test_the_probes_loop_figures_are_parsed() -> None:
    text = """
# TYPE stampede_event_loop_lag_seconds histogram
stampede_event_loop_lag_seconds_bucket{le="0.05"} 7.0
stampede_event_loop_lag_seconds_bucket{le="0.1"} 8.0
stampede_event_loop_lag_seconds_bucket{le="+Inf"} 10.0
stampede_event_loop_lag_seconds_count 10.0
stampede_event_loop_lag_seconds_sum 1.25
# TYPE stampede_event_loop_thread_cpu_seconds_total counter
stampede_event_loop_thread_cpu_seconds_total 0.5
"""
    out = parse_server_metrics(text)
    assert (out["loop_ticks"], out["loop_ticks_on_time"]) == (10.0, 8)
    assert (out["loop_lag_s"], out["loop_cpu_s"]) == (1.25, 0.5)
