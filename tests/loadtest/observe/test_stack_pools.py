"""Stack evidence per pool: every pool's workers classified, each parked one named by its top
user frame; py-spy's JSON as it prints it (no process needed)."""

from __future__ import annotations

from stampede.loadtest.observe.stack_evidence import StackEvidence, parse, pool_of, top_user_frame

THREADING = "/usr/lib/python3.11/threading.py"
ANYIO = "/venv/lib/python3.11/site-packages/anyio/_backends/_asyncio.py"
FUTURES = "/usr/lib/python3.11/concurrent/futures/thread.py"


def thread(name: str, frames: list[tuple[str, str, int]]) -> dict:
    return {
        "pid": 7,
        "thread_name": name,
        "frames": [{"filename": f, "name": n, "line": line} for f, n, line in frames],
    }


def parked_anyio(line: int) -> dict:
    return thread(
        "AnyIO worker thread",
        [
            (THREADING, "Condition.wait", 331),
            (THREADING, "Event.wait", 629),
            ("/srv/app/ac_app.py", "handler", line),
            (ANYIO, "WorkerThread.run", 1124),
        ],
    )


def test_pools_are_named_by_their_threads() -> None:
    assert pool_of("asyncio_3") == pool_of("uvloop_0") == "asyncio"
    assert pool_of("AnyIO worker thread") == "anyio"
    assert pool_of("ThreadPoolExecutor-2_5") == "ThreadPoolExecutor-2"
    assert pool_of("model-pool_1") == "model-pool"
    assert pool_of("MainThread") is None and pool_of("Thread-3 (serve)") is None


def test_a_pool_all_parked_is_wedged_and_names_the_user_frame() -> None:
    idle_asyncio = thread("asyncio_0", [(FUTURES, "_worker", 90)])
    evidence = StackEvidence(threads=parse([parked_anyio(151), parked_anyio(151), idle_asyncio]))
    pools = {p.pool: p for p in evidence.pools()}
    assert pools["anyio"].wedged and pools["anyio"].top_frames == ("ac_app.py:151 in handler",) * 2
    assert not pools["asyncio"].wedged  # an idle default executor is not the wedged pool
    assert evidence.any_pool_wedged and not evidence.executor_wedged


def test_one_working_worker_keeps_its_pool_unwedged() -> None:
    working = thread("AnyIO worker thread", [("/srv/app/ac_app.py", "handler", 160)])
    evidence = StackEvidence(threads=parse([parked_anyio(151), working]))
    assert not evidence.any_pool_wedged


def test_the_top_user_frame_skips_the_stdlib_and_libraries() -> None:
    frames = ((THREADING, "Event.wait", 629), (ANYIO, "run", 1))
    assert top_user_frame(frames) is None
    assert top_user_frame(((THREADING, "wait", 1), ("/a/b/x.py", "C.f", 9))) == "x.py:9 in f"
