"""Ctrl-C (or TERM/HUP) in the middle of `stampede bench` ends it at once: the gated model call
and every parked waiter thread are released, instead of the exit waiting out the gate's 120 s."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import psutil
import pytest

# Half the gate: an exit that waited for the gate fails, a busy machine releasing 10,000 waiters
# (about 2 s idle, 13 s with two CPU hogs beside it) does not.
EXIT_WITHIN_S = 60.0


@pytest.mark.parametrize("sig", [signal.SIGINT])
def test_interrupted_bench_exits_promptly(sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "stampede", "bench", "waiters", "--waiters", "to_thread",
         "--sizes", "10000", "--json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        bench = psutil.Process(proc.pid)
        deadline = time.monotonic() + 60
        # Mid-measurement: the executor's workers are up and parked (threads beyond start-up).
        while bench.num_threads() < 6:
            assert proc.poll() is None and time.monotonic() < deadline, "bench never started"
            time.sleep(0.05)
        proc.send_signal(sig)
        sent = time.monotonic()
        _, err = proc.communicate(timeout=EXIT_WITHIN_S + 5)
        took = time.monotonic() - sent
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 128 + sig, err
    assert took < EXIT_WITHIN_S, f"{took:.1f} s"
    assert "Traceback" not in err and "never retrieved" not in err, err
