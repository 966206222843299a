"""The OpenAPI schema is the truth: schemathesis `--checks all` finds nothing, for every waiter.

The CLI runs its coverage phase (undeclared methods, boundary values, missing headers) and a
short fuzzing phase against real servers on loopback, one per waiter, all at once: every
operation against the first, the invocation route (the only one a waiter changes) against
the others. The stream
runs a fixed Query implementation: with the buggy one a valid `?teardown=response` request
breaks the response mid-stream by design (that is the hazard), which schemathesis would rightly
report. Bad input must never move the loop-error counters either.

Each run draws a fresh seed, so every CI run explores other examples; the seed is printed and in
every failure message, and STAMPEDE_SCHEMATHESIS_SEED=N replays one.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from stampede.server.hazards import IDEMPOTENCY

from tests.serverproc import ServerProcess, running_server

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
MAX_EXAMPLES = 5
SEED = int(os.environ.get("STAMPEDE_SCHEMATHESIS_SEED") or secrets.randbelow(2**31))
SERVER = {
    "model_latency_ms": 0,  # so PUT /v1/control/model cannot slow the run
    "model_cycles": 1,
    "stream_impl": "asyncio_tasks",
    "stream_max_duration_s": 0.1,
    "stream_interval_ms": 1,
}


def schemathesis_run(
    server: ServerProcess, cwd: Path, only: str | None
) -> subprocess.CompletedProcess[str]:
    argv = [
        str(SCHEMATHESIS),
        "run",
        f"{server.url}/openapi.json",
        "--checks=all",
        f"--max-examples={MAX_EXAMPLES}",
        f"--seed={SEED}",
        "--workers=1",
        "--request-timeout=10",
        "--phases=coverage,fuzzing",
    ]
    if only:
        argv.append(f"--include-path-regex={only}")
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_schemathesis_finds_nothing_against_any_waiter(tmp_path: Path) -> None:
    print(f"schemathesis seed {SEED} (replay: STAMPEDE_SCHEMATHESIS_SEED={SEED})")
    waiters = IDEMPOTENCY.impls
    with ExitStack() as stack, ThreadPoolExecutor(len(waiters)) as pool:
        starts = [
            pool.submit(stack.enter_context, running_server(waiter=w, **SERVER)) for w in waiters
        ]
        servers = [start.result() for start in starts]
        only = [None] + ["/invocations$"] * (len(servers) - 1)
        runs = list(pool.map(schemathesis_run, servers, [tmp_path] * len(servers), only))
        for waiter, server, done in zip(waiters, servers, runs, strict=True):
            if done.returncode != 0:  # the whole report, for the replay: pytest cuts a long repr
                print(f"--- {waiter}, seed {SEED} ---\n{done.stdout}")
            assert done.returncode == 0, (f"seed {SEED}", waiter, done.stdout[-1500:])
            assert "No issues found" in done.stdout
            tested = server.status()
            assert tested["waiter"] == waiter
            assert tested["loop_errors"] == {}
            assert "Traceback" not in server.log()
        # The full run reached the stream; every run sent invocations.
        assert servers[0].status()["hazards"]["stream"]["counts"]["started"] > 0
        assert all(s.status()["active_requests"] == 0 for s in servers)
