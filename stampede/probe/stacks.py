"""What a thread is doing, from its Python stack: idle, parked in a wait primitive, or working.

One classifier for both sides of Stampede: the probe reads its own threads' frames
(`sys._current_frames`), the harness reads py-spy's `dump --json` of a process it cannot
change. Both reduce a stack to (file, function) pairs, innermost first.

A thread is *parked* when its innermost Python frame is a stdlib wait primitive
(threading's Event/Condition/Semaphore/Barrier waits, a queue's get/put, a concurrent future's
result). Those wait on a lock in C, so the innermost Python frame is the primitive itself. A
thread in `time.sleep`, a socket read or a C extension is *working*: a blocking model call is
work, not a wait on another thread. A bare `Lock.acquire()` made straight from user code is
C-level too and reads as working: the one wait this rule cannot see.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Iterable, Sequence
from typing import Literal

ThreadState = Literal["idle", "parked", "working"]
Frame = tuple[str, str]  # (file name, function name)

# stdlib module file (path suffix) -> functions that park the calling thread
WAIT_PRIMITIVES: dict[str, frozenset[str]] = {
    "/threading.py": frozenset({"wait", "wait_for", "acquire", "_wait", "join"}),
    "/queue.py": frozenset({"get", "put", "join"}),
    "/concurrent/futures/_base.py": frozenset({"result", "exception", "wait", "as_completed"}),
    "/multiprocessing/synchronize.py": frozenset({"wait", "acquire", "__enter__"}),
}
# A pool worker between items: it waits for work in the pool's own loop.
IDLE_LOOPS: dict[str, frozenset[str]] = {
    "/concurrent/futures/thread.py": frozenset({"_worker"}),
    "/anyio/_backends/_asyncio.py": frozenset({"run"}),
    "/trio/_core/_thread_cache.py": frozenset({"_work"}),  # waits on its own lock in C
}


def _matches(table: dict[str, frozenset[str]], frame: Frame) -> bool:
    filename, function = frame
    function = function.rsplit(".", 1)[-1]  # py-spy gives qualified names: "Condition.wait"
    path = filename.replace("\\", "/")
    return any(path.endswith(suffix) and function in names for suffix, names in table.items())


def is_wait_frame(frame: Frame) -> bool:
    return _matches(WAIT_PRIMITIVES, frame)


def classify_stack(frames: Sequence[Frame]) -> ThreadState:
    """The state of a thread whose stack is `frames`, innermost first."""
    if not frames:
        return "working"
    innermost = frames[0]
    if _matches(IDLE_LOOPS, innermost):
        return "idle"
    if is_wait_frame(innermost):
        # A pool's idle worker may read its work queue with queue.get: still idle, not parked.
        caller = next((f for f in frames if not is_wait_frame(f)), None)
        if caller is not None and _matches(IDLE_LOOPS, caller):
            return "idle"
        return "parked"
    return "working"


def frames_of(frame: object | None) -> list[Frame]:
    """A live frame's stack as (file, function) pairs, innermost first."""
    out: list[Frame] = []
    while frame is not None:
        code = frame.f_code  # type: ignore[attr-defined]
        out.append((code.co_filename, code.co_name))
        frame = frame.f_back  # type: ignore[attr-defined]
    return out


def parked_threads(idents: Iterable[int]) -> set[int]:
    """Which of these threads (by ident) are parked in a wait primitive right now."""
    wanted = set(idents)
    if not wanted:
        return set()
    frames = sys._current_frames()
    return {
        ident
        for ident in wanted
        if ident in frames and classify_stack(frames_of(frames[ident])) == "parked"
    }


def thread_stacks() -> str:
    """Every thread's stack as text, for a log line that has to explain a wedge."""
    names = {t.ident: t.name for t in threading.enumerate()}
    parts = []
    for ident, frame in sys._current_frames().items():
        stack = "".join(traceback.format_stack(frame))
        parts.append(f'Thread "{names.get(ident, "?")}" ({ident}):\n{stack}')
    return "\n".join(parts)
