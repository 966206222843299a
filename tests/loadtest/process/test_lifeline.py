"""Children die with their harness; the next start clears what a dead harness left; one run at a
time; --out refused up front. Real processes, real cgroups (where root), real flocks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from stampede.loadtest.errors import HarnessError
from stampede.loadtest.process.caps import probe_cgroups, sweep_stale
from stampede.loadtest.process.lifeline import (
    OWNER_ENV,
    marked_processes,
    owner_alive,
    owner_token,
    start_time,
    sweep_orphans,
)
from stampede.loadtest.process.runlock import run_lock
from stampede.loadtest.report.outdir import check_out_dir

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="creating cgroups needs root")


def _gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if start_time(pid) is None:  # gone or a zombie
            return True
        time.sleep(0.02)
    return False


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_owner_is_pid_and_start_time() -> None:
    me = owner_token()
    assert owner_alive(me)
    pid, start = me.split(":")
    # The same pid with another start time is a reused pid: not our owner.
    assert not owner_alive(f"{pid}:{int(start) + 1}")
    assert not owner_alive(f"{_dead_pid()}:1")


def test_child_of_a_killed_harness_dies_with_it() -> None:
    # A harness that spawns a child through the lifeline, prints its pid, then sleeps.
    harness = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from stampede.loadtest.process.processes import spawn\n"
         f"child = spawn({SLEEPER!r})\n"
         "print(child.pid, flush=True)\n"
         "time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        child = int(harness.stdout.readline())  # type: ignore[union-attr]
        assert start_time(child) is not None
        assert marked_processes()[child] == owner_token(harness.pid)
        harness.kill()  # SIGKILL: no handler, no atexit
        harness.wait()
        assert _gone(child), "the child outlived its SIGKILLed harness"
    finally:
        harness.kill()


def test_sweep_kills_processes_of_dead_or_reused_owners_only() -> None:
    pid, start = owner_token().split(":")
    owners = {
        "dead": f"{_dead_pid()}:1",
        "reused": f"{pid}:{int(start) + 1}",  # our pid, another process's start time
        "live": owner_token(),
    }
    procs = {
        name: subprocess.Popen(SLEEPER, env={**os.environ, OWNER_ENV: token})
        for name, token in owners.items()
    }
    try:
        killed = sweep_orphans()
        assert {procs["dead"].pid, procs["reused"].pid} <= set(killed)
        assert procs["live"].pid not in killed
        assert procs["dead"].wait(5) == -signal.SIGKILL
        assert procs["reused"].wait(5) == -signal.SIGKILL
        assert procs["live"].poll() is None
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()


@needs_root
def test_sweep_kills_what_runs_inside_a_dead_harness_cgroup() -> None:
    probe = probe_cgroups()
    if probe.method is None:
        pytest.skip(probe.reason)
    # Named as a harness that has exited: "<name>.<pid>.<start time>.<random>".
    leaves = {m / "stampede" / f"orphan.{_dead_pid()}.1.cafe" for m in probe.mounts.values()}
    for leaf in leaves:
        leaf.mkdir(parents=True)
    inside = subprocess.Popen(SLEEPER)  # no owner mark: only the cgroup knows it
    try:
        for leaf in leaves:
            (leaf / "cgroup.procs").write_text(str(inside.pid))
        removed = sweep_stale()
        assert {str(leaf) for leaf in leaves} <= set(removed)
        assert inside.wait(5) == -signal.SIGKILL
        assert not any(leaf.exists() for leaf in leaves)
    finally:
        inside.kill()
        inside.wait()
        for leaf in leaves:
            if leaf.exists():
                leaf.rmdir()


def test_second_run_refuses_naming_the_holder(tmp_path: Path) -> None:
    lock = tmp_path / "run.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from pathlib import Path\n"
         "from stampede.loadtest.process.runlock import run_lock\n"
         f"with run_lock('compare', path=Path({str(lock)!r})):\n"
         "    print('held', flush=True)\n"
         "    time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"  # type: ignore[union-attr]
        with pytest.raises(HarnessError) as refused, run_lock("plan", path=lock):
            pass
        message = str(refused.value)
        assert f"pid {holder.pid}" in message and str(lock) in message and "\n" not in message
        heard: list[str] = []
        started = time.monotonic()
        with pytest.raises(HarnessError), run_lock("plan", 0.5, heard.append, path=lock):
            pass
        assert time.monotonic() - started >= 0.5 and len(heard) == 1
        holder.kill()  # however the holder dies, the kernel drops its lock
        holder.wait()
        with run_lock("plan", 5.0, path=lock):
            assert "stampede plan" in lock.read_text()
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda d: d / ("x" * 300), "longer than"),
        (lambda d: d / "file" / "sub", "file exists and is not a directory"),
        (lambda d: d / "file", "exists and is not a directory"),
        (lambda d: Path("/proc/self/nope"), "not writable"),
        (lambda d: d / "/".join(["y" * 200] * 25), "too long"),
    ],
)
def test_out_dir_refused_up_front_without_creating_anything(
    tmp_path: Path, make, problem: str
) -> None:
    (tmp_path / "file").write_text("")
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(ValueError, match=problem) as exc:
        check_out_dir("--out", str(make(tmp_path)))
    assert str(exc.value).startswith("--out ")
    assert sorted(tmp_path.rglob("*")) == before


def test_out_dir_accepts_a_new_nested_directory(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert check_out_dir("--out", str(target)) == target
    assert not (tmp_path / "a").exists()
