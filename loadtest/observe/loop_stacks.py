"""What a process's event-loop thread is doing, from py-spy: in its selector, or elsewhere.

Two hazards need to know where the loop's thread is without any code in the target:
- a blocked loop (mcp python-sdk #1646): while the cheap pings are slow, the loop's thread sits
  in a syscall outside the selector (time.sleep, a sync socket read) inside the app's code;
- a spinning loop (anyio #1111): with nothing in flight, one thread burns the CPU, and its
  stack names what it runs.
`dump_threads` runs py-spy once (stack_evidence.dump, which keeps the files) and reads back
each thread with its OS thread id and py-spy's "active" flag, which stack_evidence drops.
The loop's thread is the one running asyncio's or uvicorn's runner; it is "in the selector"
when its innermost Python frame is the loop's own machinery (selectors.py, asyncio's runner,
uvloop's run_until_complete), "in a blocking call" when it waits in a syscall anywhere else,
and "running" when it works on the CPU elsewhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stampede.loadtest.observe.stack_evidence import dump

LOOP_FILES = ("/asyncio/", "selectors.py", "/uvloop/")
RUNNER_MARKS = ("asyncio/runners.py", "asyncio/base_events.py", "uvicorn/server.py")


@dataclass(frozen=True)
class Thread:
    os_tid: int
    name: str
    active: bool
    frames: tuple[tuple[str, str, int], ...]  # (file, function, line), innermost first

    @property
    def top(self) -> str:
        if not self.frames:
            return "?"
        file, function, line = self.frames[0]
        return f"{function} ({Path(file).name}:{line})"


def parse_threads(raw: Any) -> list[Thread]:
    threads = []
    for t in raw if isinstance(raw, list) else []:
        frames = tuple(
            (str(f.get("filename", "")), str(f.get("name", "")), int(f.get("line") or 0))
            for f in t.get("frames") or []
        )
        tid = int(t.get("os_thread_id") or 0)
        threads.append(Thread(tid, str(t.get("thread_name") or tid), bool(t.get("active")), frames))
    return threads


def loop_thread(threads: list[Thread]) -> Thread | None:
    """The thread that runs the event loop: the one with a runner frame (MainThread first)."""
    runners = [t for t in threads if any(m in f for f, _, _ in t.frames for m in RUNNER_MARKS)]
    runners.sort(key=lambda t: t.name != "MainThread")
    return runners[0] if runners else None


def loop_state(thread: Thread) -> str:
    """ "selector", "blocking call" or "running" (see the module's docstring)."""
    if thread.frames and any(mark in thread.frames[0][0] for mark in LOOP_FILES):
        return "selector"
    return "running" if thread.active else "blocking call"


def dump_threads(pid: int, run_dir: Path, stem: str) -> tuple[list[Thread], str | None, str | None]:
    """(threads, the stacks file relative to run_dir, why there are none)."""
    evidence = dump(pid, run_dir, stem)
    if evidence.error or evidence.json_file is None:
        return [], None, evidence.error or "py-spy printed nothing"
    raw = json.loads((run_dir / evidence.json_file).read_text())
    return parse_threads(raw), evidence.text_file, None


@dataclass
class LoopWatch:
    """During a storm: when a cheap ping was slow, where was the loop's thread? A few dumps,
    spaced out, so the sampler's cadence suffers at most MAX_DUMPS py-spy runs."""

    slow_ms: float = 100.0
    max_dumps: int = 3
    every_s: float = 1.0

    def __post_init__(self) -> None:
        self.dumps: list[dict[str, Any]] = []
        self.error: str | None = None
        self._last_t: float | None = None

    def observe(self, row: dict[str, Any], pid: int, run_dir: Path, stem: str) -> None:
        ping, t = row.get("ping_ms"), row.get("t_s")
        if not isinstance(ping, int | float) or ping < self.slow_ms or self.error:
            return
        if len(self.dumps) >= self.max_dumps or not isinstance(t, int | float):
            return
        if self._last_t is not None and t - self._last_t < self.every_s:
            return
        self._last_t = t
        threads, text_file, error = dump_threads(pid, run_dir, f"{stem}-loop-{len(self.dumps)}")
        if error:
            self.error = error
            return
        thread = loop_thread(threads)
        self.dumps.append(
            {
                "t_s": t,
                "ping_ms": ping,
                "thread": thread.name if thread else None,
                "state": loop_state(thread) if thread else "no loop thread found",
                "top": thread.top if thread else None,
                "frames": [f"{fn} ({Path(f).name}:{ln})" for f, fn, ln in thread.frames[:8]]
                if thread
                else [],
                "stacks_file": text_file,
            }
        )

    def summary(self) -> dict[str, Any]:
        blocked = [d for d in self.dumps if d["state"] == "blocking call"]
        return {
            "dumps": len(self.dumps),
            "blocked": len(blocked),
            "blocking_frame": blocked[0]["top"] if blocked else None,
            "samples": self.dumps,
            "error": self.error,
        }
