"""The idle phase at the end of a variant: the target with no request in flight, watched.

After the storm's clients have exited, a healthy server does nothing: its CPU time stands
still, the state its sessions held has been reaped, its resident memory is back near where it
started. Two hazards show only here:
- a spinning loop (anyio #1111) keeps burning a core while serving nothing: the phase reads
  the process tree's CPU time over its length, the thread that used most of it (psutil's
  per-thread times), and, when that is a lot, py-spy's stack of that thread (loop_stacks.py);
  with the probe, the loop thread's own CPU counter (exact);
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
from stampede.loadtest.observe.loop_stacks import dump_threads
from stampede.loadtest.observe.server_http import scrape_server

# Share of one core above which the hot thread's stack is worth a py-spy dump.
DUMP_ABOVE_SHARE = 0.1


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


def _thread_times(tree: list[psutil.Process]) -> dict[int, float]:
    out: dict[int, float] = {}
    for process in tree:
        try:
            for thread in process.threads():
                out[thread.id] = thread.user_time + thread.system_time
        except psutil.Error:
            continue
    return out


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
        deltas = {tid: threads1[tid] - threads0.get(tid, 0.0) for tid in threads1}
        if deltas:
            tid = max(deltas, key=lambda k: deltas[k])
            out["hot_thread"] = {"os_tid": tid, "cpu_s": round(deltas[tid], 3)}
    loop_cpu = [m.get("loop_cpu_s") for m in (before, after)]
    if all(isinstance(v, int | float) for v in loop_cpu):
        used = float(loop_cpu[1]) - float(loop_cpu[0])  # type: ignore[arg-type]
        out["loop_cpu_s"] = round(used, 3)
        out["loop_cpu_share"] = round(used / wall, 3) if wall > 0 else None
    if "event_loop_tasks" in after:
        out["event_loop_tasks"] = after["event_loop_tasks"]
    hot = out.get("hot_thread")
    share = out.get("cpu_share")
    hot_enough = isinstance(share, float) and share >= DUMP_ABOVE_SHARE
    if stacks and pid is not None and hot and hot_enough:
        _name_hot_thread(hot, pid, run_dir, f"{stem}-idle")
    return out


def _name_hot_thread(hot: dict[str, Any], pid: int, run_dir: Path, stem: str) -> None:
    threads, text_file, error = dump_threads(pid, run_dir, stem)
    hot["stacks_file"], hot["stacks_error"] = text_file, error
    for thread in threads:
        if thread.os_tid == hot["os_tid"]:
            hot["name"] = thread.name
            hot["frames"] = [f"{fn} ({Path(f).name}:{ln})" for f, fn, ln in thread.frames[:8]]
            return
