"""py-spy against a real process: default-executor workers parked in Event.wait are told from
a worker in time.sleep, and the stacks land in the run folder."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from stampede.loadtest.observe import stack_evidence

pytestmark = pytest.mark.skipif(stack_evidence.py_spy() is None, reason="py-spy not installed")

PROGRAM = textwrap.dedent(
    """
    import asyncio, threading, time
    release = threading.Event()
    async def main():
        loop = asyncio.get_running_loop()
        for _ in range({parked}):
            loop.run_in_executor(None, release.wait)
        for _ in range({busy}):
            loop.run_in_executor(None, time.sleep, 60)
        print("ready", flush=True)
        await asyncio.sleep(60)
    asyncio.run(main())
    """
)


def _dump(tmp_path: Path, parked: int, busy: int) -> stack_evidence.StackEvidence:
    code = PROGRAM.format(parked=parked, busy=busy)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        time.sleep(0.2)
        return stack_evidence.dump(proc.pid, tmp_path, "target")
    finally:
        proc.kill()
        proc.wait()


def test_every_default_worker_parked_is_an_executor_wedge(tmp_path: Path) -> None:
    evidence = _dump(tmp_path, parked=3, busy=0)
    assert evidence.error is None
    assert evidence.default_workers == 3 and len(evidence.parked_default) == 3
    assert evidence.executor_wedged
    text = (tmp_path / "stacks" / "target.txt").read_text()
    assert text.count("Event.wait") == 3
    assert (tmp_path / "stacks" / "target.json").exists()


def test_a_working_worker_is_not_parked(tmp_path: Path) -> None:
    evidence = _dump(tmp_path, parked=2, busy=1)
    assert evidence.default_workers == 3 and len(evidence.parked_default) == 2
    assert not evidence.executor_wedged


def test_a_gone_process_is_an_error_not_a_guess(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    evidence = stack_evidence.dump(proc.pid, tmp_path, "gone")
    assert evidence.error is not None and "py-spy" in evidence.error
    assert evidence.threads == [] and not evidence.executor_wedged
