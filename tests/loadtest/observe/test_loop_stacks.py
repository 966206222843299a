"""py-spy's threads read back with their OS ids and "active" flag, and the loop's thread found."""

from __future__ import annotations

from pathlib import Path

import pytest
from stampede.loadtest.observe import loop_stacks
from stampede.loadtest.observe.loop_stacks import (
    LoopWatch,
    Thread,
    loop_state,
    loop_thread,
    parse_threads,
)


def frame(name: str, filename: str, line: int = 1) -> dict[str, object]:
    return {"name": name, "filename": filename, "line": line}


RUNNER = [frame("run", "/usr/lib/python3.11/asyncio/runners.py", 118)]
RAW = [
    {"thread_name": "asyncio_0", "os_thread_id": 11, "active": False,
     "frames": [frame("_worker", "/usr/lib/python3.11/concurrent/futures/thread.py")]},
    {"thread_name": "MainThread", "os_thread_id": 10, "active": False,
     "frames": [frame("lookup", "/app/sync_tool.py", 23), frame("call_tool", "/app/sync_tool.py"),
                *RUNNER]},
]  # fmt: skip


def test_threads_keep_their_os_id_and_active_flag() -> None:
    threads = parse_threads(RAW)
    assert [(t.os_tid, t.name, t.active) for t in threads] == [
        (11, "asyncio_0", False),
        (10, "MainThread", False),
    ]
    assert threads[1].top == "lookup (sync_tool.py:23)"
    assert parse_threads({"not": "a list"}) == []


def test_the_loop_thread_is_the_one_running_the_runner() -> None:
    thread = loop_thread(parse_threads(RAW))
    assert thread is not None and thread.name == "MainThread"
    assert loop_state(thread) == "blocking call"  # in a syscall, in the app's code


def test_loop_states() -> None:
    idle = parse_threads(
        [{"thread_name": "MainThread", "os_thread_id": 1, "active": False,
          "frames": [frame("select", "/usr/lib/python3.11/selectors.py"), *RUNNER]}]
    )[0]  # fmt: skip
    uvloop_idle = parse_threads([{"thread_name": "MainThread", "frames": RUNNER}])[0]
    working = parse_threads(
        [{"thread_name": "MainThread", "active": True,
          "frames": [frame("parse", "/app/app.py"), *RUNNER]}]
    )[0]  # fmt: skip
    assert [loop_state(t) for t in (idle, uvloop_idle, working)] == [
        "selector",
        "selector",
        "running",
    ]
    assert loop_thread(parse_threads([{"thread_name": "worker", "frames": []}])) is None


def test_the_watch_dumps_only_on_slow_pings_and_at_most_max_dumps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # py-spy needs a process to attach to; the watch's pacing is what is under test here.
    calls: list[str] = []

    def fake_dump(pid: int, run_dir: Path, stem: str) -> tuple[list[Thread], str, None]:
        calls.append(stem)
        return parse_threads(RAW), f"stacks/{stem}.txt", None

    monkeypatch.setattr(loop_stacks, "dump_threads", fake_dump)
    watch = LoopWatch(slow_ms=100, max_dumps=2, every_s=1.0)
    for t, ping in [(0.5, 5.0), (1.0, 300.0), (1.5, 300.0), (2.5, 250.0), (4.0, 400.0)]:
        watch.observe({"t_s": t, "ping_ms": ping}, 123, tmp_path, "bug")
    assert calls == ["bug-loop-0", "bug-loop-1"]  # 1.5 is too soon after 1.0; 4.0 is a third
    summary = watch.summary()
    assert (summary["dumps"], summary["blocked"]) == (2, 2)
    assert summary["blocking_frame"] == "lookup (sync_tool.py:23)"
