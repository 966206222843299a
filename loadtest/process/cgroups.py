"""The cgroup filesystem: find the hierarchy, create a run's groups, write and read limits.

Works on cgroup v2 (one unified hierarchy with cpu/memory/pids in cgroup.controllers) and on
v1 (a mount per controller). Everything here is plain file I/O on cgroupfs; starting, stopping
and cleaning up processes lives in caps.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stampede.loadtest.process.lifeline import owner_token

DEFAULT_ROOT = "/sys/fs/cgroup"
CGROUP_ROOT_ENV = "STAMPEDE_CGROUP_ROOT"
PARENT_NAME = "stampede"
CONTROLLERS = {"cpu": "cpus", "memory": "memory_bytes", "pids": "pids"}  # -> request field
CPU_PERIOD_US = 100_000
MIN_QUOTA_US = 1_000  # the kernel rejects CFS quotas below 1 ms
V1_UNLIMITED = 1 << 62  # v1 spells "no limit" as a huge page-aligned number, not "max"

RootArg = str | os.PathLike[str] | None


@dataclass(frozen=True)
class CgroupProbe:
    method: str | None  # "cgroup-v2" | "cgroup-v1" | None
    reason: str
    mounts: dict[str, Path] = field(default_factory=dict)  # controller -> hierarchy mount


@dataclass(frozen=True)
class Leaf:
    path: Path
    mount: Path


def unescape(field: str) -> str:
    # /proc/mounts escapes whitespace in mount points as octal, e.g. "\040"
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


def cgroup_mounts() -> list[tuple[str, Path, set[str]]]:
    for source in ("/proc/self/mounts", "/proc/mounts"):
        with contextlib.suppress(OSError):
            rows = [line.split() for line in Path(source).read_text().splitlines()]
            return [
                (r[2], Path(unescape(r[1])), set(r[3].split(",")))
                for r in rows
                if len(r) >= 4 and r[2] in ("cgroup", "cgroup2")
            ]
    return []


def probe_cgroups(cgroup_root: RootArg = None) -> CgroupProbe:
    """Which cgroup flavour start_capped would use under cgroup_root, and why (not)."""
    root = Path(os.path.realpath(cgroup_root or os.environ.get(CGROUP_ROOT_ENV) or DEFAULT_ROOT))
    mounts = cgroup_mounts()
    if v2 := [opts for fstype, where, opts in mounts if fstype == "cgroup2" and where == root]:
        usable = [
            c for c in CONTROLLERS if c in (read_value(root / "cgroup.controllers") or "").split()
        ]
        if not usable:
            return CgroupProbe(None, f"cgroup v2 at {root} offers none of {list(CONTROLLERS)}")
        if "rw" not in v2[0] or not os.access(root / "cgroup.subtree_control", os.W_OK):
            return CgroupProbe(None, f"cgroup v2 at {root} is not writable")
        return CgroupProbe("cgroup-v2", f"v2 {usable} at {root}", dict.fromkeys(usable, root))
    found: dict[str, Path] = {}
    for fstype, where, opts in mounts:
        writable = "rw" in opts and os.access(where, os.W_OK)
        if fstype == "cgroup" and where.is_relative_to(root) and where != root and writable:
            for controller in CONTROLLERS:
                if controller in opts:
                    found.setdefault(controller, where)
    if found:
        return CgroupProbe("cgroup-v1", f"v1 {sorted(found)} under {root}", found)
    return CgroupProbe(None, f"no writable cgroup2 root or v1 cpu/memory/pids mount at {root}")


def cgroups_available(cgroup_root: RootArg = None) -> str | None:
    """Return "cgroup-v2", "cgroup-v1" or None; probe_cgroups() also says why."""
    return probe_cgroups(cgroup_root).method


def read_value(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def try_write(path: Path, value: str, notes: list[str]) -> bool:
    try:
        path.write_text(value)  # short value: one write(2), which is how cgroup files parse
        return True
    except OSError as exc:
        notes.append(f"could not write {value!r} to {path}: {exc.strerror or exc}")
        return False


def cgroup_pids(leaf: Path) -> set[int] | None:
    text = read_value(leaf / "cgroup.procs")
    return None if text is None else {int(p) for p in text.split()}


def leaf_name(name: str) -> str:
    """`<name>.<harness pid>.<its start time>.<random>`: sweep_stale() leaves a group alone
    while that exact process lives (the start time tells a reused pid from the owner)."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:64] or "sut"
    return f"{safe}.{owner_token().replace(':', '.')}.{secrets.token_hex(4)}"


def leaf_owner(leaf: str) -> str | None:
    """The owner token (`pid:start`, or a bare pid for the older `<name>.<pid>.<random>`
    layout) of a leaf name; None if it is not a Stampede leaf name."""
    parts = leaf.split(".")
    if len(parts) == 4:
        return f"{parts[1]}:{parts[2]}"
    return parts[1] if len(parts) == 3 else None


def enable_controllers(root: Path, controllers: list[str], notes: list[str]) -> None:
    for where in (root, root / PARENT_NAME):
        enabled = (read_value(where / "cgroup.subtree_control") or "").split()
        for controller in controllers:  # one by one, so a refusal costs only that controller
            if controller not in enabled:
                try_write(where / "cgroup.subtree_control", f"+{controller}", notes)


def create_leaves(probe: CgroupProbe, leaf: str, leaves: list[Leaf], notes: list[str]) -> None:
    for controller, mount in probe.mounts.items():
        path = mount / PARENT_NAME / leaf
        if any(known.path == path for known in leaves):
            continue  # v2, or co-mounted v1 controllers ("cpu,cpuacct"): one directory serves all
        for _ in range(3):  # a concurrent stop() may rmdir the shared parent under us: redo
            try:
                path.parent.mkdir(exist_ok=True)
                if probe.method == "cgroup-v2":
                    enable_controllers(mount, list(probe.mounts), notes)
                path.mkdir()
            except FileNotFoundError:
                continue
            except OSError as exc:
                notes.append(f"{controller}: cannot create {path}: {exc.strerror or exc}")
            else:
                leaves.append(Leaf(path, mount))
            break


def controller_dirs(leaves: list[Leaf], probe: CgroupProbe) -> dict[str, Path]:
    if probe.method == "cgroup-v2":  # what the leaf really got, after subtree_control
        available = (read_value(leaves[0].path / "cgroup.controllers") or "").split()
        return {c: leaves[0].path for c in probe.mounts if c in available}
    return {c: leaf.path for leaf in leaves for c, m in probe.mounts.items() if m == leaf.mount}


def apply_limits(
    dirs: dict[str, Path], v2: bool, limits: Mapping[str, Any], notes: list[str]
) -> None:
    """Write `limits` (a CapsRequest as a dict: cpus, memory_bytes, pids; None: no limit)."""
    cpus, memory_bytes, pids = limits["cpus"], limits["memory_bytes"], limits["pids"]
    for controller, key in CONTROLLERS.items():
        if limits[key] is not None and controller not in dirs:
            notes.append(f"{key}: not enforced, {controller} controller unavailable")
    if cpus is not None and (d := dirs.get("cpu")):
        quota = max(MIN_QUOTA_US, round(cpus * CPU_PERIOD_US))
        if v2:
            try_write(d / "cpu.max", f"{quota} {CPU_PERIOD_US}", notes)
        elif try_write(d / "cpu.cfs_period_us", str(CPU_PERIOD_US), notes):
            try_write(d / "cpu.cfs_quota_us", str(quota), notes)
    if memory_bytes is not None and (d := dirs.get("memory")):
        limit = str(memory_bytes)
        if try_write(d / ("memory.max" if v2 else "memory.limit_in_bytes"), limit, notes):
            # Without a swap cap the memory limit bounds only RAM and the SUT swaps instead.
            swap = d / ("memory.swap.max" if v2 else "memory.memsw.limit_in_bytes")
            if not (swap.exists() and try_write(swap, "0" if v2 else limit, [])):
                notes.append("memory_bytes: swap not capped (no swap accounting)")
    if pids is not None and (d := dirs.get("pids")):
        try_write(d / "pids.max", str(pids), notes)


def limit(text: str | None) -> int | None:
    if text is None or text == "max" or not 0 <= int(text) < V1_UNLIMITED:
        return None
    return int(text)


def read_cgroup_limits(dirs: dict[str, Path], v2: bool) -> dict[str, Any]:
    enforced: dict[str, Any] = dict.fromkeys(CONTROLLERS.values())
    if d := dirs.get("cpu"):
        if v2:
            quota, _, period = (read_value(d / "cpu.max") or "max").partition(" ")
        else:
            quota = read_value(d / "cpu.cfs_quota_us") or "-1"
            period = read_value(d / "cpu.cfs_period_us") or ""
        if (q := limit(quota)) is not None and period:
            enforced["cpus"] = q / int(period)
    if d := dirs.get("memory"):
        enforced["memory_bytes"] = limit(
            read_value(d / ("memory.max" if v2 else "memory.limit_in_bytes"))
        )
    if d := dirs.get("pids"):
        enforced["pids"] = limit(read_value(d / "pids.max"))
    return enforced
