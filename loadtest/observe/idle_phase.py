"""The idle phase at the end of a variant: the target with no request in flight, watched.

After the storm's clients have exited, a healthy server does nothing: its CPU time stands
still, the state its sessions held has been reaped, its resident memory is back near where it
started. Two hazards show only here:
- a spinning loop (anyio #1111) keeps burning a core while serving nothing: the phase reads
  the process tree's CPU time over its length and, per thread, the time it was runnable (on a
  CPU or waiting in the run queue for one, /proc/<pid>/task/<tid>/schedstat): a spinning
  thread is runnable the whole phase however busy the machine is, where its CPU share is
  whatever the other tenants leave it. For the thread runnable longest, py-spy's stack when
  it was busy at all (loop_stacks.py); with the probe, the loop thread's own CPU counter;
- state that grows per session and is never reaped (mcp python-sdk #1283): the phase's last
  reading (RSS, fds; tasks with the probe) is what the leak verdict compares with the start.
Nothing is sent to the target between the phase's first and last /metrics reads, so the
reads bracket a window with nothing in flight. Bounded by its length and the caller's cut.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psutil
from stampede.loadtest.observe.loop_stacks import dump_threads, loop_state
from stampede.loadtest.observe.server_http import scrape_server

# Share of one core above which the hot thread's stack is worth a py-spy dump.
DUMP_ABOVE_SHARE = 0.1
HOT_DUMPS = 5


def _tree(pid: int) -> list[psutil.Process]:
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


def _cpu_s(tree: list[psutil.Process]) -> float:
    total = 0.0
    for process in tree:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


def _thread_times(tree: list[psutil.Process]) -> dict[int, tuple[float, float | None]]:
    """Per thread: (CPU seconds, runnable seconds or None where schedstat is unreadable)."""
    out: dict[int, tuple[float, float | None]] = {}
    for process in tree:
        try:
            for thread in process.threads():
                cpu = thread.user_time + thread.system_time
                out[thread.id] = (cpu, _runnable_s(process.pid, thread.id))
        except psutil.Error:
            continue
    return out


def _runnable_s(pid: int, tid: int) -> float | None:
    try:
        run_ns, wait_ns, *_ = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()
        return (int(run_ns) + int(wait_ns)) / 1e9
    except (OSError, ValueError):
        return None


def _resources(tree: list[psutil.Process]) -> dict[str, int]:
    rss = fds = 0
    for process in tree:
        try:
            rss += process.memory_info().rss
            fds += process.num_fds()
        except psutil.Error:
            continue
    return {"rss_bytes": rss, "open_fds": fds}


def idle_phase(
    pid: int | None, url: str, seconds: float, run_dir: Path, stem: str, *, stacks: bool
) -> dict[str, Any]:
    """Watch the idle target for `seconds`; what it used, and (if `stacks`) its hot thread."""
    before = scrape_server(url)
    try:
        tree = _tree(pid) if pid is not None else []
    except psutil.Error:
        tree = []
    cpu0, threads0, t0 = _cpu_s(tree), _thread_times(tree), time.monotonic()
    time.sleep(max(0.0, seconds))
    cpu1, threads1, wall = _cpu_s(tree), _thread_times(tree), time.monotonic() - t0
    after = scrape_server(url)
    out: dict[str, Any] = {"wall_s": round(wall, 3)}
    if tree:
        out["cpu_s"] = round(cpu1 - cpu0, 3)
        out["cpu_share"] = round((cpu1 - cpu0) / wall, 3) if wall > 0 else None
        out.update(_resources(tree))
        hot = _hot_thread(threads0, threads1, wall)
        if hot:
            out["hot_thread"] = hot
    loop_cpu = [m.get("loop_cpu_s") for m in (before, after)]
    if all(isinstance(v, int | float) for v in loop_cpu):
        used = float(loop_cpu[1]) - float(loop_cpu[0])  # type: ignore[arg-type]
        out["loop_cpu_s"] = round(used, 3)
        out["loop_cpu_share"] = round(used / wall, 3) if wall > 0 else None
    if "event_loop_tasks" in after:
        out["event_loop_tasks"] = after["event_loop_tasks"]
    hot = out.get("hot_thread")
    share = max(float((hot or {}).get("runnable_share") or 0), float(out.get("cpu_share") or 0))
    hot_enough = share >= DUMP_ABOVE_SHARE
    if stacks and pid is not None and hot and hot_enough:
        _name_hot_thread(hot, pid, run_dir, f"{stem}-idle")
    return out


def _hot_thread(
    before: dict[int, tuple[float, float | None]],
    after: dict[int, tuple[float, float | None]],
    wall: float,
) -> dict[str, Any] | None:
    """The thread runnable longest over the phase (CPU time where schedstat is unreadable)."""
    rows = []
    for tid, (cpu1, run1) in after.items():
        cpu0, run0 = before.get(tid, (0.0, None))
        runnable = None if run1 is None or run0 is None else run1 - run0
        rows.append((runnable if runnable is not None else cpu1 - cpu0, tid, cpu1 - cpu0, runnable))
    if not rows or wall <= 0:
        return None
    _, tid, cpu, runnable = max(rows)
    hot: dict[str, Any] = {"os_tid": tid, "cpu_s": round(cpu, 3)}
    if runnable is not None:
        hot["runnable_s"] = round(runnable, 3)
        hot["runnable_share"] = round(runnable / wall, 3)
    return hot


def _name_hot_thread(hot: dict[str, Any], pid: int, run_dir: Path, stem: str) -> None:
    """The busy thread's stack. A spinning loop is mostly inside the loop's own C code between
    callbacks, so one dump may catch only the runner: up to HOT_DUMPS dumps, and the first
    that shows it running something else names what spins."""
    for attempt in range(HOT_DUMPS):
        threads, text_file, error = dump_threads(pid, run_dir, f"{stem}-{attempt}")
        hot["stacks_file"], hot["stacks_error"], hot["dumps"] = text_file, error, attempt + 1
        thread = next((t for t in threads if t.os_tid == hot["os_tid"]), None)
        if error or thread is None:
            return
        hot["name"] = thread.name
        hot["frames"] = [f"{fn} ({Path(f).name}:{ln})" for f, fn, ln in thread.frames[:8]]
        # Caught running code of its own, not just sitting in the loop's machinery.
        hot["caught"] = loop_state(thread) != "selector"
        if hot["caught"]:
            return
