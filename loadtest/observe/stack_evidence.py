"""Stack evidence from a process we cannot change: `py-spy dump --json`, classified.

Every thread's stack is reduced to (file, function) frames and classified by the probe's own
rule (stampede.probe.stacks): idle in its pool, parked in a wait primitive, or working.
Threads are grouped by pool from their names: `asyncio_N` are the default executors of every
loop (a second loop's executor names its threads the same), "AnyIO worker thread"s are anyio's
workers (every sync route of FastAPI/Starlette runs there), `ThreadPoolExecutor-N_M` is
executor N, and any `PREFIX_M` thread a named ThreadPoolExecutor's. The wedge rule is per pool:
every worker of one pool parked in a wait. Each parked worker is named by its top frame in user
code (`ac_app.py:151 in handler`), the first frame outside the stdlib and site-packages.

The dump is written to the run folder as JSON (what py-spy printed) and as text (for the
report). When py-spy cannot run (not installed, no ptrace permission, the process is gone),
the evidence says so in `error` and holds no stacks: the caller falls back to the stall alone.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stampede.probe.stacks import ThreadState, classify_stack

PY_SPY_TIMEOUT_S = 10.0
DEFAULT_EXECUTOR = re.compile(r"^(asyncio|uvloop)_\d+$")  # uvloop names its pool so
NAMED_POOL = re.compile(r"^(?P<prefix>[A-Za-z][\w.-]*?)_\d+$")  # ThreadPoolExecutor(prefix=...)
EXECUTOR_N = re.compile(r"^(ThreadPoolExecutor-\d+)_\d+$")
LIBRARY_PARTS = ("/site-packages/", "/dist-packages/", "/lib/python3", "<frozen")


def pool_of(name: str) -> str | None:
    """The pool a thread belongs to by its name: "asyncio" (every loop's default executor),
    "anyio", "ThreadPoolExecutor-N", a named executor's prefix, or None (not a pool worker)."""
    if DEFAULT_EXECUTOR.match(name):
        return "asyncio"
    if name == "AnyIO worker thread":
        return "anyio"
    if m := EXECUTOR_N.match(name):
        return m.group(1)
    if m := NAMED_POOL.match(name):
        return m.group("prefix")
    return None


def top_user_frame(frames: tuple[tuple[str, str, int], ...]) -> str | None:
    """ "ac_app.py:151 in handler": the innermost frame in user code (not stdlib, not a
    site-packages library), or None when the stack has none."""
    for file, function, line in frames:
        path = file.replace("\\", "/")
        if not path or any(part in path for part in LIBRARY_PARTS):
            continue
        return f"{path.rsplit('/', 1)[-1]}:{line} in {function.rsplit('.', 1)[-1]}"
    return None


@dataclass(frozen=True)
class PoolState:
    pool: str
    workers: int
    parked: int
    top_frames: tuple[str, ...]  # each parked worker's top user frame, where it has one

    @property
    def wedged(self) -> bool:
        return self.workers > 0 and self.parked == self.workers

    def as_dict(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "workers": self.workers,
            "parked": self.parked,
            "wedged": self.wedged,
            "top_frames": list(self.top_frames),
        }


ANYIO_WORKER = "AnyIO worker thread"  # sync routes and dependencies run on these


@dataclass(frozen=True)
class ThreadStack:
    pid: int
    name: str
    pool: str | None  # "default", "other" or None
    state: ThreadState
    frames: tuple[tuple[str, str, int], ...]  # (file, function, line), innermost first
    pool_name: str | None = None  # pool_of(name): which pool, for the wedge rule per pool

    def __post_init__(self) -> None:
        if self.pool_name is None:  # the name says which pool: one rule, wherever it is built
            object.__setattr__(self, "pool_name", pool_of(self.name))


@dataclass
class StackEvidence:
    threads: list[ThreadStack] = field(default_factory=list)
    error: str | None = None  # why there are no stacks
    json_file: str | None = None  # relative to the run folder
    text_file: str | None = None

    def pool(self, pool: str) -> list[ThreadStack]:
        return [t for t in self.threads if t.pool == pool]

    @property
    def default_workers(self) -> int:
        return len(self.pool("default"))

    @property
    def parked_default(self) -> list[ThreadStack]:
        return [t for t in self.pool("default") if t.state == "parked"]

    @property
    def parked_other(self) -> list[ThreadStack]:
        return [t for t in self.pool("other") if t.state == "parked"]

    def pools(self) -> list[PoolState]:
        """Every pool's workers, parked ones and their top user frames."""
        by_pool: dict[str, list[ThreadStack]] = {}
        for t in self.threads:
            if t.pool_name is not None:
                by_pool.setdefault(t.pool_name, []).append(t)
        out = []
        for name, threads in sorted(by_pool.items()):
            parked = [t for t in threads if t.state == "parked"]
            tops = tuple(f for t in parked if (f := top_user_frame(t.frames)) is not None)
            out.append(PoolState(name, len(threads), len(parked), tops))
        return out

    @property
    def wedged_pools(self) -> list[PoolState]:
        return [p for p in self.pools() if p.wedged]

    @property
    def any_pool_wedged(self) -> bool:
        """The wedge rule per pool: every worker of some pool parked in a wait."""
        return bool(self.wedged_pools)

    @property
    def executor_wedged(self) -> bool:
        """Every default-executor worker there is parked in a wait primitive."""
        default = self.pool("default")
        return bool(default) and all(t.state == "parked" for t in default)

    @property
    def anyio_parked(self) -> list[ThreadStack]:
        return [t for t in self.threads if t.name == ANYIO_WORKER and t.state == "parked"]

    @property
    def anyio_wedged(self) -> bool:
        """Every "AnyIO worker thread" there (sync routes' pool) is parked in a wait."""
        workers = [t for t in self.threads if t.name == ANYIO_WORKER]
        return bool(workers) and all(t.state == "parked" for t in workers)

    @property
    def wedged(self) -> bool:
        """Some pool's workers all parked (the default executor, anyio's, any other)."""
        return self.any_pool_wedged


def py_spy() -> str | None:
    """The py-spy executable: beside this interpreter (a venv), else on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def dump(pid: int, run_dir: Path, stem: str) -> StackEvidence:
    """Dump every thread of `pid` and its children; files go to run_dir/stacks/<stem>.*."""
    exe = py_spy()
    if exe is None:
        return StackEvidence(error="py-spy is not installed")
    argv = [exe, "dump", "--json", "--subprocesses", "--pid", str(pid)]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=PY_SPY_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return StackEvidence(error=f"py-spy did not answer within {PY_SPY_TIMEOUT_S:g} s")
    except OSError as exc:
        return StackEvidence(error=f"py-spy could not run: {exc}")
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        why = lines[-1] if lines else f"exit code {done.returncode}"
        return StackEvidence(error=f"py-spy could not attach: {why}")
    try:
        raw = json.loads(done.stdout)
    except ValueError:
        return StackEvidence(error="py-spy printed no JSON")
    evidence = StackEvidence(threads=parse(raw))
    folder = run_dir / "stacks"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.json").write_bytes(done.stdout)
    (folder / f"{stem}.txt").write_text(render(evidence.threads))
    evidence.json_file = f"stacks/{stem}.json"
    evidence.text_file = f"stacks/{stem}.txt"
    return evidence


def parse(raw: Any) -> list[ThreadStack]:
    """py-spy's JSON (a list of threads) as classified ThreadStacks."""
    threads = []
    for thread in raw if isinstance(raw, list) else []:
        name = str(thread.get("thread_name") or thread.get("thread_id") or "?")
        frames = tuple(
            (str(f.get("filename", "")), str(f.get("name", "")), int(f.get("line") or 0))
            for f in thread.get("frames") or []
        )
        pool = "default" if DEFAULT_EXECUTOR.match(name) else None
        named = pool_of(name)
        if pool is None and named is not None:
            pool = "other"
        state = classify_stack([(file, function) for file, function, _ in frames])
        pid = int(thread.get("pid") or 0)
        threads.append(ThreadStack(pid, name, pool, state, frames, named))
    return threads


def render(threads: list[ThreadStack]) -> str:
    parts = []
    for t in threads:
        pool = f", {t.pool_name} pool" if t.pool_name else ""
        top = top_user_frame(t.frames) if t.state == "parked" else None
        at = f" at {top}" if top else ""
        lines = [f'Thread "{t.name}" (pid {t.pid}{pool}): {t.state}{at}']
        lines += [f"    {function} ({file}:{line})" for file, function, line in t.frames]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
