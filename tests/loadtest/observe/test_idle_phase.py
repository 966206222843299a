"""The idle phase on real processes: a thread that spins is runnable all along, a sleeper not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from stampede.loadtest.observe.idle_phase import idle_phase

# Each says "ready" once its start-up (the interpreter's imports, CPU-bound) is over: the phase
# measures what the process does after it, as it measures a server after its storm.
SPIN = "print('ready', flush=True)\nwhile True:\n    pass\n"
SLEEP = "import time\nprint('ready', flush=True)\ntime.sleep(60)\n"
NO_SERVER = "http://127.0.0.1:9"  # nothing listens: the /metrics reads come back empty


@pytest.mark.parametrize(("code", "spins"), [(SPIN, True), (SLEEP, False)])
def test_the_busiest_threads_runnable_share(tmp_path: Path, code: str, spins: bool) -> None:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        idle = idle_phase(proc.pid, NO_SERVER, 1.0, tmp_path, "t", stacks=False)
    finally:
        proc.kill()
        proc.wait()
    hot = idle["hot_thread"]
    assert hot["os_tid"] == proc.pid  # the main thread is the only one
    assert idle["wall_s"] >= 1.0 and "rss_bytes" in idle and "open_fds" in idle
    assert "loop_cpu_s" not in idle  # no probe to read
    if spins:  # runnable the whole phase, however little CPU a busy host grants it
        assert hot["runnable_share"] >= 0.9, idle
    else:
        assert hot["runnable_share"] <= 0.1 and idle["cpu_s"] <= 0.1, idle
