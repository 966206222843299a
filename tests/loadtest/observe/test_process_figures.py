"""The process tree's threads, RSS and fds, and the wait for its threads to settle after a
storm: a real child process whose threads end (back at the start) or stay (steady above it)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from stampede.loadtest.observe.process_figures import drained_figures, process_figures

# Starts 30 threads when told to ("go" on stdin), which end after `linger` seconds (or never).
CHILD = """
import sys, threading, time
linger = float(sys.argv[1])
stop = threading.Event()
sys.stdin.readline()
for _ in range(30):
    threading.Thread(target=stop.wait, args=(linger if linger >= 0 else None,), daemon=True).start()
print("started", flush=True)
time.sleep(60)
"""


@pytest.fixture
def child(request: pytest.FixtureRequest) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(request.param)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    yield proc
    proc.kill()
    proc.wait(timeout=10)


def _start(proc: subprocess.Popen[str]) -> dict:
    # The start reading once the interpreter is up (its threads don't change until "go").
    start = process_figures(proc.pid)
    assert start["threads"] >= 1 and start["rss_bytes"] > 0 and start["open_fds"] >= 3
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "started"
    return start


@pytest.mark.parametrize("child", [1.0], indirect=True)
def test_threads_that_end_are_waited_for(child: subprocess.Popen[str]) -> None:
    start = _start(child)
    assert process_figures(child.pid)["threads"] >= start["threads"] + 30
    end = drained_figures(child.pid, start, wait_s=30.0)
    assert end["settled"] is True and end["threads"] <= start["threads"]


@pytest.mark.parametrize("child", [-1], indirect=True)
def test_threads_that_stay_settle_above_the_start(child: subprocess.Popen[str]) -> None:
    start = _start(child)
    end = drained_figures(child.pid, start, wait_s=30.0)
    # Steady for a second above the start: settled, what is left stays.
    assert end["settled"] is True and end["threads"] >= start["threads"] + 30


def test_a_process_that_is_gone_reads_nothing() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    assert process_figures(proc.pid) == {} and process_figures(None) == {}
    assert drained_figures(None, {"threads": 3}, 1.0) == {}
