"""Real-cgroup tests for loadtest.caps: run as root on a machine with cgroup v1 or v2."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from stampede.loadtest.flags import parse_memory
from stampede.loadtest.process.caps import (
    CappedProcess,
    CapsRequest,
    cgroups_available,
    probe_cgroups,
    start_capped,
    sweep_stale,
)

SLEEPER = [sys.executable, "-c", "import time; time.sleep(30)"]
MiB = 1 << 20

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="creating cgroups needs root")


def _alive(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _assert_cleaned(proc_pid: int, paths: list[str]) -> None:
    assert not _alive(proc_pid), f"child {proc_pid} still running"
    left = [p for p in paths if os.path.exists(p)]
    assert not left, f"cgroup dirs left behind: {left}"


def _ready_line(proc: CappedProcess) -> str:
    assert proc.popen.stdout is not None
    line: bytes = proc.popen.stdout.readline()
    return line.decode().strip()


def _kernel_limits(paths: list[str]) -> dict[str, float | int]:
    """The limits as the cgroup files state them, for v1 and v2 alike."""
    names = "cpu.max memory.max cpu.cfs_quota_us cpu.cfs_period_us memory.limit_in_bytes pids.max"
    files = {
        f.name: f.read_text().split()
        for d in paths
        for f in map(Path(d).joinpath, names.split())
        if f.exists()
    }
    if "cpu.max" in files:  # v2
        quota, period = files["cpu.max"]
        memory = files["memory.max"][0]
    else:
        quota, period = files["cpu.cfs_quota_us"][0], files["cpu.cfs_period_us"][0]
        memory = files["memory.limit_in_bytes"][0]
    pids = files["pids.max"][0]
    return {"cpus": int(quota) / int(period), "memory_bytes": int(memory), "pids": int(pids)}


@needs_root
def test_cgroup_limits_read_back_and_cleanup() -> None:
    probe = probe_cgroups()
    # Root can always create cgroups here; a None means detection is broken, not the machine.
    assert probe.method in ("cgroup-v1", "cgroup-v2"), probe.reason
    assert cgroups_available() == probe.method
    request = CapsRequest(cpus=0.5, memory_bytes=parse_memory("256M"), pids=64)
    proc = start_capped(SLEEPER, request, name="test caps/limits")
    try:
        report = proc.report()
        assert report["method"] == probe.method
        assert report["requested"] == {"cpus": 0.5, "memory_bytes": 256 * MiB, "pids": 64}
        assert report["enforced"] == report["requested"], report["notes"]
        paths = report["cgroup_paths"]
        assert paths and all(f"/stampede/test-caps-limits.{os.getpid()}." in p for p in paths)
        assert _kernel_limits(paths) == report["requested"]  # read here, not via the module
        for path in paths:
            procs = Path(path, "cgroup.procs").read_text().split()
            assert str(proc.pid) in procs, f"{proc.pid} not in {path}"
        # Independent read of the kernel's view of the child's membership.
        membership = Path(f"/proc/{proc.pid}/cgroup").read_text()
        assert "/stampede/test-caps-limits." in membership
    finally:
        code = proc.stop(timeout=2.0)
    assert code == -signal.SIGTERM
    _assert_cleaned(proc.pid, paths)
    assert proc.report()["cgroup_paths"] == paths  # still on record after removal


@needs_root
def test_pids_cap_bites() -> None:
    script = (
        "import threading, time\n"
        "ev = threading.Event(); n = 0\n"
        "for _ in range(200):\n"
        "    try:\n"
        "        threading.Thread(target=ev.wait, daemon=True).start(); n += 1\n"
        "    except RuntimeError:\n"
        "        break\n"
        "print(n, flush=True); ev.set()\n"
    )
    with start_capped(
        [sys.executable, "-c", script],
        CapsRequest(pids=32),
        name="test-pids",
        stdout=subprocess.PIPE,
    ) as proc:
        assert proc.report()["enforced"]["pids"] == 32
        out, _ = proc.popen.communicate(timeout=10)
    started = int(out.decode().strip())
    print(f"child started {started} of 200 threads under pids=32")
    assert 0 < started < 32


@needs_root
def test_memory_and_cpu_caps_bite() -> None:
    hog = [sys.executable, "-c", "b = bytearray(512 << 20); b[::4096] = b'x' * (128 << 10)"]
    with start_capped(hog, CapsRequest(memory_bytes=128 * MiB), name="test-oom") as proc:
        assert proc.popen.wait(timeout=10) == -signal.SIGKILL  # the memcg OOM killer
    spin = "import time\nt = time.monotonic() + 1\nwhile time.monotonic() < t: pass\n"
    spin += "print(time.process_time())"
    argv = [sys.executable, "-c", spin]
    with start_capped(argv, CapsRequest(cpus=0.2), name="t-cpu", stdout=subprocess.PIPE) as proc:
        cpu_seconds = float(proc.popen.communicate(timeout=10)[0])
    print(f"1 s of spinning under cpus=0.2 got {cpu_seconds:.2f} s of CPU")
    assert cpu_seconds < 0.5


def test_fallback_when_cgroup_root_is_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cgroups_available(tmp_path) is None
    request = CapsRequest(cpus=1, memory_bytes=parse_memory("1G"), pids=16)
    with start_capped(SLEEPER, request, name="fb", cgroup_root=tmp_path) as proc:
        report = proc.report()
        affinity = os.sched_getaffinity(proc.pid)
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
    match = re.search(r"^Max address space\s+(\d+)", limits, re.MULTILINE)
    assert match is not None, limits
    soft = int(match[1])
    assert report["method"] == "fallback"
    assert report["cgroup_paths"] == []
    assert len(affinity) == 1 and report["enforced"]["cpus"] == 1
    assert soft == 1 << 30 and report["enforced"]["memory_bytes"] == 1 << 30
    assert report["enforced"]["pids"] is None
    assert any("RLIMIT_AS" in n and "not RSS" in n for n in report["notes"])
    assert any(n.startswith("pids: not enforced") for n in report["notes"])
    assert not _alive(proc.pid)

    # The env var redirects the default root, which is how a harness forces the fallback.
    monkeypatch.setenv("STAMPEDE_CGROUP_ROOT", str(tmp_path))
    assert cgroups_available() is None
    with start_capped(SLEEPER, CapsRequest(cpus=0.5), name="fb-env") as proc:
        report = proc.report()
    assert report["method"] == "fallback" and report["enforced"]["cpus"] == 1
    assert any("whole CPUs" in n for n in report["notes"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512M", 512 * MiB),
        ("1G", 1 << 30),
        ("1.5GiB", 3 << 29),
        ("64k", 64 << 10),
        ("1048576", 1 << 20),
        (" 2 gb ", 2 << 30),
        ("100B", 100),
    ],
)
def test_parse_memory_good(text: str, expected: int) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize("bad", ["12Q", "", "M", "-1G", "0", "0.0001k", "1.2.3M", "1 G B"])
def test_parse_memory_bad_names_the_value(bad: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        parse_memory(bad)


def test_request_validation() -> None:
    for bad in ({"cpus": 0}, {"cpus": float("nan")}, {"memory_bytes": 0}, {"pids": 0}):
        with pytest.raises(ValueError):
            CapsRequest(**bad)


@pytest.mark.parametrize("cgroups", [True, False], ids=["cgroup", "fallback"])
def test_stop_kills_sigterm_ignoring_child(cgroups: bool, tmp_path: Path) -> None:
    if cgroups and os.geteuid() != 0:
        pytest.skip("creating cgroups needs root")
    script = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    root = None if cgroups else tmp_path
    proc = start_capped(
        [sys.executable, "-c", script],
        CapsRequest(pids=16),
        name="stubborn",
        stdout=subprocess.PIPE,
        cgroup_root=root,
    )
    assert _ready_line(proc) == "ready"
    paths = proc.report()["cgroup_paths"]
    assert bool(paths) == cgroups
    started = time.monotonic()
    code = proc.stop(timeout=1.0)
    elapsed = time.monotonic() - started
    assert code == -signal.SIGKILL
    assert 1.0 <= elapsed < 2.5, elapsed
    _assert_cleaned(proc.pid, paths)
    assert proc.stop(timeout=1.0) == code  # idempotent
    proc.popen.communicate()  # child is dead: just drains and closes the pipe


@needs_root
@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
def test_cleanup_when_body_raises(exc_type: type[BaseException]) -> None:
    with pytest.raises(exc_type), start_capped(SLEEPER, CapsRequest(cpus=1), name="boom") as proc:
        paths = proc.report()["cgroup_paths"]
        assert all(os.path.isdir(p) for p in paths)
        raise exc_type("body failed")
    _assert_cleaned(proc.pid, paths)


@needs_root
def test_failed_exec_removes_cgroups() -> None:
    probe = probe_cgroups()
    with pytest.raises(FileNotFoundError):
        start_capped(["/nonexistent/sut"], CapsRequest(pids=8), name="noexec")
    mine = [
        p for m in set(probe.mounts.values()) for p in m.glob(f"stampede/noexec.{os.getpid()}.*")
    ]
    assert mine == []


@needs_root
def test_grandchild_outside_process_group_is_killed_via_cgroup() -> None:
    # setsid moves the grandchild out of the process group, but not out of the cgroup.
    script = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " start_new_session=True)\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = start_capped(
        [sys.executable, "-c", script], CapsRequest(), name="escape", stdout=subprocess.PIPE
    )
    grandchild = int(_ready_line(proc))
    assert proc.popen.stdout is not None
    proc.popen.stdout.close()
    paths = proc.report()["cgroup_paths"]
    proc.stop(timeout=1.0)
    deadline = time.monotonic() + 2
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.02)
    _assert_cleaned(grandchild, paths)


@needs_root
def test_sweep_stale_removes_only_dead_owners_groups() -> None:
    probe = probe_cgroups()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [m / "stampede" / f"old.{dead.pid}.cafe" for m in set(probe.mounts.values())]
    for path in stale:
        path.mkdir(parents=True)
    with start_capped(SLEEPER, CapsRequest(), name="live") as proc:
        # An empty group whose owner (this process) is alive must survive a sweep too.
        idle = [Path(p).parent / f"idle.{os.getpid()}.beef" for p in proc.report()["cgroup_paths"]]
        for path in idle:
            path.mkdir()
        try:
            # Another worker's run may sweep the dead group first: what counts is that it is
            # gone, and that no sweep took the live owner's groups.
            removed = sweep_stale()
            assert not any(p.exists() for p in stale), removed
            assert not [r for r in removed if f".{os.getpid()}." in r], removed
            assert all(os.path.isdir(p) for p in proc.report()["cgroup_paths"] + idle)
        finally:
            for path in idle:
                path.rmdir()
