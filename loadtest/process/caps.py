"""Run a system-under-test server in its own resource-capped process.

/proc/self/mounts tells us whether the cgroup root holds a cgroup v2 unified hierarchy or separate
v1 cpu/memory/pids hierarchies. Each run gets its own cgroup under a shared "stampede" parent and
the child joins it from a preexec_fn, i.e. before it execs, so every thread it starts is counted.
Without usable cgroups we fall back to CPU affinity (whole CPUs) and RLIMIT_AS (virtual memory,
not RSS); pids cannot be capped that way. Enforced values are always read back from the kernel,
never echoed from the request. stop() kills the child's process group, drains and removes its
cgroups; sweep_stale() kills and removes what a killed harness left behind. Every child also
gets a parent-death signal and an owner mark (lifeline.py), so it dies with its harness.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import math
import os
import re
import resource
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stampede.loadtest.process.cgroups import (
    CONTROLLERS,
    PARENT_NAME,
    Leaf,
    RootArg,
    apply_limits,
    cgroup_pids,
    cgroups_available,
    controller_dirs,
    create_leaves,
    leaf_name,
    leaf_owner,
    probe_cgroups,
    read_cgroup_limits,
    try_write,
)
from stampede.loadtest.process.lifeline import chain, die_with_parent, marked_env, owner_alive

__all__ = [
    "CappedProcess",
    "CapsRequest",
    "cgroups_available",
    "probe_cgroups",
    "start_capped",
    "sweep_stale",
]

DRAIN_SECONDS = 1.0

_LIVE: set[CappedProcess] = set()  # strong refs, so the atexit hook still sees unstopped runs


@dataclass(frozen=True)
class CapsRequest:
    cpus: float | None = None  # e.g. 2 or 0.5
    memory_bytes: int | None = None
    pids: int | None = None

    def __post_init__(self) -> None:
        if self.cpus is not None and not (math.isfinite(self.cpus) and self.cpus > 0):
            raise ValueError(f"cpus must be a positive number, got {self.cpus!r}")
        if self.memory_bytes is not None and self.memory_bytes <= 0:
            raise ValueError(f"memory_bytes must be > 0, got {self.memory_bytes!r}")
        if self.pids is not None and self.pids < 1:
            raise ValueError(f"pids must be >= 1, got {self.pids!r}")


def _fallback_plan(request: CapsRequest, notes: list[str]) -> tuple[list[int] | None, int | None]:
    cpu_set = memory = None
    if request.cpus is not None:
        available = sorted(os.sched_getaffinity(0))
        cpu_set = available[: min(math.ceil(request.cpus), len(available))]
        if len(cpu_set) != request.cpus:
            notes.append(f"cpus: affinity pins whole CPUs: {request.cpus} -> {len(cpu_set)}")
    if request.memory_bytes is not None:
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        memory = request.memory_bytes
        if hard != resource.RLIM_INFINITY:
            memory = min(memory, hard)  # only root may raise a hard limit
        notes.append(
            "memory_bytes: RLIMIT_AS caps virtual address space, not RSS; thread stacks and "
            "malloc arenas reserve far more than they touch, so it bites early, not at a RAM level"
        )
    if request.pids is not None:
        notes.append(
            "pids: not enforced; RLIMIT_NPROC counts all the user's processes (root: none)"
        )
    return cpu_set, memory


def _preexec(
    procs: list[Path], cpu_set: list[int] | None, memory: int | None
) -> Callable[[], None]:
    # Runs between fork and exec: raw syscalls on pre-encoded paths, nothing that could block.
    targets = [os.fsencode(p) for p in procs]

    def preexec() -> None:
        for target in targets:
            fd = os.open(target, os.O_WRONLY)
            try:
                os.write(fd, b"0")  # "0" means the writing process, in v1 and v2 alike
            finally:
                os.close(fd)
        if cpu_set is not None:
            os.sched_setaffinity(0, cpu_set)
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return preexec


def _read_fallback_limits(pid: int, request: CapsRequest, notes: list[str]) -> dict[str, Any]:
    enforced: dict[str, Any] = dict.fromkeys(CONTROLLERS.values())
    try:
        if request.cpus is not None:
            enforced["cpus"] = len(os.sched_getaffinity(pid))
        limits = Path(f"/proc/{pid}/limits").read_text()
    except OSError as exc:
        notes.append(f"could not read back limits of pid {pid}: {exc}")
        return enforced
    if match := re.search(r"^Max address space\s+(\S+)", limits, re.MULTILINE):
        enforced["memory_bytes"] = None if match[1] == "unlimited" else int(match[1])
    return enforced


def _compare(requested: dict[str, Any], enforced: dict[str, Any], notes: list[str]) -> None:
    for key, want in requested.items():
        got = enforced[key]
        if want is not None and got is None and not any(n.startswith(key) for n in notes):
            notes.append(f"{key}: requested {want}, not enforced")
        elif want is not None and got is not None and got != want:
            notes.append(f"{key}: requested {want}, kernel enforces {got}")


class CappedProcess:
    """A child running under caps; stop() (or leaving the with-block) tears everything down."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        method: str,
        request: CapsRequest,
        leaves: list[Leaf],
        notes: list[str],
    ) -> None:
        self.popen = popen
        self.method = method
        self.request = request
        self.notes = notes
        self.enforced: dict[str, Any] = dict.fromkeys(CONTROLLERS.values())
        self._leaves = list(leaves)  # still to remove
        self._paths = [str(leaf.path) for leaf in leaves]  # for the record, even after stop()
        self._killed = False
        self.dirs: dict[str, Path] = {}  # controller -> its cgroup directory
        _LIVE.add(self)

    def set_cpus(self, cpus: float) -> float | None:
        """Change the CPU quota of the running child (a phased storm's cpu trigger); returns
        the quota read back, None when no cgroup cpu controller caps it."""
        d = self.dirs.get("cpu")
        if d is None:
            self.notes.append(f"cpus: cannot change to {cpus:g} without a cgroup cpu controller")
            return None
        v2 = self.method == "cgroup-v2"
        apply_limits(
            {"cpu": d}, v2, CapsRequest(cpus=cpus, memory_bytes=None, pids=None), self.notes
        )
        return read_cgroup_limits({"cpu": d}, v2).get("cpus")

    @property
    def pid(self) -> int:
        return self.popen.pid

    def report(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "requested": asdict(self.request),
            "enforced": dict(self.enforced),
            "notes": list(self.notes),
            "cgroup_paths": list(self._paths),
        }

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM the process group, SIGKILL after timeout, then remove the cgroups. Idempotent."""
        if not self._killed:
            self._kill_group(timeout)
            self._killed = True
        if self._leaves:
            self._drain_cgroups()
            self._leaves = _rmdir_all(self._leaves, self.notes)
        if not self._leaves:
            _LIVE.discard(self)
        return self.popen.returncode

    def __enter__(self) -> CappedProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _kill_group(self, timeout: float) -> None:
        pid = self.popen.pid
        if self.popen.returncode is not None:
            return  # reaped by the caller: the pgid may name someone else's group by now
        if not _wait_exited(pid, time.monotonic()):
            _send(pid, signal.SIGTERM, group=True)
            _wait_exited(pid, time.monotonic() + timeout)
        # The unreaped leader pins the pgid, so this cannot hit a recycled group; it takes
        # out stragglers that outlived the leader or ignored SIGTERM.
        _send(pid, signal.SIGKILL, group=True)
        try:
            self.popen.wait(timeout=DRAIN_SECONDS)
        except subprocess.TimeoutExpired:
            self.notes.append(f"pid {pid} survived SIGKILL for {DRAIN_SECONDS}s")

    def _drain_cgroups(self) -> None:
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            left = {pid for leaf in self._leaves for pid in cgroup_pids(leaf.path) or ()}
            if not left:
                return
            for pid in left:  # escaped the process group (setsid) but not the cgroup: the SUT's
                _send(pid, signal.SIGKILL)
            time.sleep(0.02)
        for leaf in self._leaves:  # stuck in the kernel (D state): park it so rmdir can succeed
            for pid in cgroup_pids(leaf.path) or ():
                if try_write(leaf.mount / "cgroup.procs", str(pid), self.notes):
                    self.notes.append(f"moved unkillable pid {pid} from {leaf.path} to the root")


def _wait_exited(pid: int, deadline: float) -> bool:
    # WNOWAIT leaves the zombie unreaped so its pid keeps naming our process group.
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _send(pid: int, sig: int, *, group: bool = False) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        (os.killpg if group else os.kill)(pid, sig)


def _rmdir(path: Path, deadline: float, notes: list[str]) -> bool:
    while True:
        try:
            path.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError as exc:
            # EBUSY while exiting tasks are still being released from the cgroup
            if exc.errno != errno.EBUSY or time.monotonic() >= deadline:
                notes.append(f"could not remove {path}: {exc.strerror or exc}")
                return False
            time.sleep(0.02)


def start_capped(
    argv: Sequence[str],
    request: CapsRequest,
    *,
    name: str,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    stdout: Any = None,
    stderr: Any = None,
    cgroup_root: RootArg = None,
) -> CappedProcess:
    """Start argv in a new session, capped by cgroups when possible, else by affinity/rlimits.

    cgroup_root=None means $STAMPEDE_CGROUP_ROOT, else /sys/fs/cgroup.
    """
    probe = probe_cgroups(cgroup_root)
    notes: list[str] = [] if probe.method else [f"cgroups unavailable: {probe.reason}"]
    leaves: list[Leaf] = []
    proc: CappedProcess | None = None
    try:
        if probe.method:
            create_leaves(probe, leaf_name(name), leaves, notes)
        dirs = controller_dirs(leaves, probe) if leaves else {}
        if leaves and not dirs:  # e.g. v2 subtree_control refused every controller
            notes.append("cgroup got no usable controllers, using the fallback")
            leaves = _rmdir_all(leaves, notes)
        if leaves:
            apply_limits(dirs, probe.method == "cgroup-v2", asdict(request), notes)
            procs = [leaf.path / "cgroup.procs" for leaf in leaves]
            method, preexec = str(probe.method), _preexec(procs, None, None)
        else:
            method, preexec = "fallback", _preexec([], *_fallback_plan(request, notes))
        spawn: dict[str, Any] = {"cwd": cwd, "stdout": stdout, "stderr": stderr}
        popen = subprocess.Popen(
            list(argv),
            preexec_fn=chain(die_with_parent(), preexec),
            start_new_session=True,
            env=marked_env(env),
            **spawn,
        )
        proc = CappedProcess(popen, method, request, leaves, notes)
        if leaves:
            proc.dirs = dirs
            proc.enforced = read_cgroup_limits(dirs, method == "cgroup-v2")
            for leaf in leaves:
                listed = cgroup_pids(leaf.path) or ()
                if popen.pid not in listed and not _wait_exited(popen.pid, 0):
                    notes.append(f"child {popen.pid} is not listed in {leaf.path}")
        else:
            proc.enforced = _read_fallback_limits(popen.pid, request, notes)
        _compare(asdict(request), proc.enforced, notes)
        return proc
    except BaseException:
        if proc is not None:
            proc.stop(timeout=1.0)
        else:  # the child never started, so the groups are empty
            _rmdir_all(leaves, notes)
        raise


def _rmdir_all(leaves: list[Leaf], notes: list[str]) -> list[Leaf]:
    """Remove the leaves, then their shared parents if now empty; returns the leaves left."""
    deadline = time.monotonic() + DRAIN_SECONDS
    kept = [leaf for leaf in leaves if not _rmdir(leaf.path, deadline, notes)]
    for parent in {leaf.path.parent for leaf in leaves}:
        _rmdir(parent, 0.0, [])  # shared by concurrent runs: fails harmlessly while in use
    return kept


def _kill_inside(leaf: Path, deadline: float) -> bool:
    """SIGKILL everything in a leaf until it is empty (True) or the deadline passes."""
    while pids := cgroup_pids(leaf):
        if time.monotonic() >= deadline:
            return False
        for pid in pids:
            _send(pid, signal.SIGKILL)
        time.sleep(0.02)
    return True


def sweep_stale(cgroup_root: RootArg = None) -> list[str]:
    """Remove the stampede cgroups of dead harnesses, killing what still runs inside them
    first; returns the removed paths. A group whose owner (pid and start time) still runs is
    left alone, even when empty: its owner may be between mkdir and moving its child in."""
    removed: list[str] = []
    for mount in sorted(set(probe_cgroups(cgroup_root).mounts.values())):
        parent = mount / PARENT_NAME
        with contextlib.suppress(OSError):
            for leaf in sorted(p for p in parent.iterdir() if p.is_dir()):
                owner = leaf_owner(leaf.name)
                if owner is None or owner_alive(owner):
                    continue
                deadline = time.monotonic() + DRAIN_SECONDS
                if _kill_inside(leaf, deadline) and _rmdir(leaf, deadline, []):
                    removed.append(str(leaf))
            if _rmdir(parent, 0.0, []):
                removed.append(str(parent))
    return removed


@atexit.register
def _stop_all() -> None:
    for proc in list(_LIVE):
        proc.stop(timeout=1.0)
