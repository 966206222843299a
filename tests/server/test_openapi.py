"""The OpenAPI schema is the truth: schemathesis `--checks all` finds nothing, for each waiter.

The CLI runs its coverage phase (undeclared methods, boundary values, missing headers) and a
short fuzzing phase against real servers on loopback, one per waiter, both at once. The stream
runs a fixed Query implementation: with the buggy one a valid `?teardown=response` request
breaks the response mid-stream by design (that is the hazard), which schemathesis would rightly
report. Bad input must never move the loop-error counters either.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import get_args

from stampede.server.settings import WaiterName

from tests.serverproc import ServerProcess, running_server

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
MAX_EXAMPLES = 5
SERVER = {
    "model_latency_ms": 1,
    "model_cycles": 1,
    "stream_impl": "asyncio_tasks",
    "stream_max_duration_s": 0.1,
    "stream_interval_ms": 1,
}


def schemathesis_run(server: ServerProcess, cwd: Path) -> subprocess.CompletedProcess[str]:
    argv = [
        str(SCHEMATHESIS),
        "run",
        f"{server.url}/openapi.json",
        "--checks=all",
        f"--max-examples={MAX_EXAMPLES}",
        "--seed=14",
        "--workers=1",
        "--request-timeout=10",
        "--phases=coverage,fuzzing",
    ]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_schemathesis_finds_nothing_against_either_waiter(tmp_path: Path) -> None:
    waiters = get_args(WaiterName)
    with ExitStack() as stack, ThreadPoolExecutor(len(waiters)) as pool:
        starts = [
            pool.submit(stack.enter_context, running_server(waiter=w, **SERVER)) for w in waiters
        ]
        servers = [start.result() for start in starts]
        runs = list(pool.map(lambda s: schemathesis_run(s, tmp_path), servers))
        for waiter, server, done in zip(waiters, servers, runs, strict=True):
            assert done.returncode == 0, (waiter, done.stdout[-6000:])
            assert "No issues found" in done.stdout
            tested = server.status()
            assert tested["waiter"] == waiter
            assert tested["loop_errors"] == {}
            assert tested["hazards"]["stream"]["counts"]["started"] > 0  # the stream was called
            assert "Traceback" not in server.log()
