"""`pytest --stampede` on small projects, each run through pytest in a subprocess: the kinds
the cases file does not cover (threads of a sync test, parked workers, a loop of asyncio.run,
anyio's pytest plugin), the allow-lists and their unused entries, the off switch and what it
costs, and a bad setting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)

PROJECT = """
[tool.pytest.ini_options]
asyncio_default_fixture_loop_scope = "function"

[tool.stampede.pytest]
enabled = true

[tool.stampede.pytest.allow]
tasks = ["^allowed-heartbeat$", "^never-matches$"]
"""

TESTS = """
import asyncio, threading, time
import anyio, pytest

BACKGROUND = set()

async def beat():
    while True:
        await asyncio.sleep(0.05)

@pytest.mark.asyncio
async def test_allowed_task():
    BACKGROUND.add(asyncio.create_task(beat(), name="allowed-heartbeat"))
    await asyncio.sleep(0.01)

def test_sync_thread_leak():
    threading.Thread(target=time.sleep, args=(3,), name="poller", daemon=True).start()

@pytest.mark.asyncio
async def test_parked_worker():
    event = threading.Event()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.to_thread(event.wait, 3), 0.05)

def test_asyncio_run_blocks_its_loop():
    async def main():
        time.sleep(0.6)
    asyncio.run(main())

@pytest.fixture
def anyio_backend():
    return "asyncio"

@pytest.mark.anyio
async def test_anyio_leak():
    BACKGROUND.add(asyncio.create_task(beat(), name="anyio-leak"))
    await anyio.sleep(0.01)

def test_fake_clock(monkeypatch):
    # Three ticks only: a check that read time.monotonic meanwhile would exhaust them.
    ticks = iter([0.0, 1.0, 2.0])
    monkeypatch.setattr(time, "monotonic", lambda: next(ticks))
    time.sleep(0.3)  # the watchdog and the loop checks tick meanwhile
    assert [time.monotonic() for _ in range(3)] == [0.0, 1.0, 2.0]

@pytest.mark.anyio
async def test_anyio_healthy():
    assert await anyio.to_thread.run_sync(sum, [1, 2]) == 3
    async with anyio.create_task_group() as group:
        group.start_soon(anyio.sleep, 0.01)
"""

NOTHING_LOADED = """
import sys

def test_the_plugin_loaded_nothing_heavy():
    heavy = [m for m in ("stampede.pytest_plugin.checks", "stampede.probe", "locust",
                         "fastapi", "stampede.loadtest") if m in sys.modules]
    assert heavy == []
"""


def pytest_run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args]
    return subprocess.run(argv, cwd=project, capture_output=True, text=True, timeout=150)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    (root / "pyproject.toml").write_text(PROJECT)
    (root / "test_kinds.py").write_text(TESTS)
    (root / "test_light.py").write_text(NOTHING_LOADED)
    return root


def outcome(stdout: str, test: str) -> str:
    for line in stdout.splitlines():
        if line.endswith(f"::{test}") or f"::{test} " in line:
            return line.split()[0]
    raise AssertionError(f"{test} not in the output:\n{stdout}")


def test_each_kind_fails_its_test_with_its_evidence(project: Path) -> None:
    proc = pytest_run(project, "test_kinds.py")
    out = proc.stdout
    assert outcome(out, "test_allowed_task") == "PASSED", out
    assert outcome(out, "test_anyio_healthy") == "PASSED", out
    assert outcome(out, "test_fake_clock") == "PASSED", out  # the checks keep their own clock
    for test in ("test_sync_thread_leak", "test_parked_worker", "test_anyio_leak"):
        assert outcome(out, test) == "FAILED", out
    assert outcome(out, "test_asyncio_run_blocks_its_loop") == "FAILED", out
    assert "[threads] thread 'poller' started by the test is still running" in out
    assert "[parked] worker 'asyncio_0' is parked in a wait at the test's end" in out
    assert "[tasks] task 'anyio-leak' (beat) left pending" in out
    assert "[blocking] a callback held the event loop for" in out
    # The blocking line itself, on asyncio.run's loop.
    line = TESTS.splitlines().index("        time.sleep(0.6)") + 1
    assert f"test_kinds.py:{line} in main" in out, out
    # The session's end names the entry that matched nothing, not the one that did.
    assert "[tool.stampede.pytest.allow] tasks: '^never-matches$'" in out
    assert "'^allowed-heartbeat$'" not in out.split("stampede checks")[-1]
    assert "1 finding(s) allowed by the allow-lists" in out


def test_under_xdist_the_summary_counts_every_workers_tests(project: Path) -> None:
    out = pytest_run(project, "test_kinds.py", "-n", "2").stdout
    assert outcome(out, "test_allowed_task") == "PASSED", out
    assert outcome(out, "test_sync_thread_leak") == "FAILED", out
    summary = out.split("stampede checks")[-1]
    assert "1 finding(s) allowed by the allow-lists" in summary, summary
    assert "[tool.stampede.pytest.allow] tasks: '^never-matches$'" in summary
    assert "'^allowed-heartbeat$'" not in summary
    assert "0 test phase(s) failed on findings" not in summary


def test_off_the_hazards_pass_and_nothing_heavy_is_imported(project: Path) -> None:
    proc = pytest_run(project, "--no-stampede")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "stampede checks" not in proc.stdout
    assert outcome(proc.stdout, "test_the_plugin_loaded_nothing_heavy") == "PASSED"


def test_a_bad_setting_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.stampede.pytest]\nblock_ms = 'fast'\n")
    proc = pytest_run(tmp_path)
    assert proc.returncode == 4
    assert "[tool.stampede.pytest] block_ms = 'fast': must be a number" in proc.stderr
    assert "Traceback" not in proc.stderr
