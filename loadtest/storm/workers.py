"""`--locust-workers N`: the storm from Locust's own distributed mode, a master and N workers.

The master runs headless with the usual arguments and waits for its workers (bounded by
`--expect-workers-max-wait`); it alone writes the CSVs, serves the client metrics and the
intents file, merging what the workers report (their stats, client metrics and per-request
outcomes ride in Locust's regular worker reports). Workers here are local processes in their
own sessions, bound to loopback; workers on other machines attach the same way (README).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

from stampede.loadtest.process.processes import spawn

WORKERS_MAX_WAIT_S = 30
# Workers report to the master every 3 s (Locust's WORKER_REPORT_INTERVAL), so the clients'
# progress is seen in steps that far apart: a stall must span more than two of them.
REPORT_INTERVAL_S = 3.0


def stall_bound(stall_s: float, workers: int) -> float:
    """The stall bound the progress watch can honour with `workers` remote reporters."""
    return stall_s if not workers else max(stall_s, 2 * REPORT_INTERVAL_S + 0.5)


def master_args(workers: int, port: int) -> list[str]:
    return [
        "--master",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(port),
        "--expect-workers",
        str(workers),
        "--expect-workers-max-wait",
        str(WORKERS_MAX_WAIT_S),
    ]


def worker_argv(locustfile: Path, port: int) -> list[str]:
    argv = [sys.executable, "-m", "locust", "-f", str(locustfile), "--worker"]
    return [*argv, "--master-host", "127.0.0.1", "--master-port", str(port)]


def start_workers(
    workers: int, locustfile: Path, port: int, cwd: Path, open_log: Callable[[int], IO[bytes]]
) -> list[subprocess.Popen[bytes]]:
    """Start `workers` local workers for the master on `port`; each logs to open_log(i)."""
    started = []
    for index in range(workers):
        started.append(
            spawn(
                worker_argv(locustfile, port),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=open_log(index),
                stderr=subprocess.STDOUT,
            )
        )
    return started
