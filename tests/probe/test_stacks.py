"""Thread states from real stacks: parked in a wait primitive, idle in a pool, or working."""

from __future__ import annotations

import queue
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import trio
from stampede.probe.stacks import classify_stack, frames_of, parked_threads


def _idents_when_started(targets: list) -> list[threading.Thread]:
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    time.sleep(0.2)  # every thread reaches its blocking call
    return threads


def test_waits_are_parked_and_sleep_is_working() -> None:
    release = threading.Event()
    semaphore = threading.Semaphore(0)
    q: queue.Queue[int] = queue.Queue()
    future: Future[int] = Future()
    parked = [release.wait, semaphore.acquire, q.get, future.result]
    working = [lambda: time.sleep(0.5), lambda: sum(range(30_000_000))]
    threads = _idents_when_started([*parked, *working])
    try:
        found = parked_threads(t.ident for t in threads if t.ident is not None)
        assert found == {t.ident for t in threads[: len(parked)]}
    finally:
        release.set()
        semaphore.release()
        q.put(1)
        future.set_result(1)


def test_idle_pool_worker_is_idle_not_parked() -> None:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="asyncio") as pool:
        pool.submit(lambda: None).result()
        time.sleep(0.05)
        worker = next(t for t in threading.enumerate() if t.name.startswith("asyncio"))
        assert worker.ident is not None
        assert parked_threads([worker.ident]) == set()


def test_classify_py_spy_shaped_frames() -> None:
    # py-spy's frames reduce to the same (file, function) pairs, innermost first.
    event_wait = [
        ("/usr/lib/python3.11/threading.py", "Condition.wait"),
        ("/usr/lib/python3.11/threading.py", "Event.wait"),
        ("/app/cache.py", "_park"),
        ("/usr/lib/python3.11/concurrent/futures/thread.py", "run"),
        ("/usr/lib/python3.11/concurrent/futures/thread.py", "_worker"),
    ]
    assert classify_stack(event_wait) == "parked"
    assert classify_stack([("/app/model.py", "converse"), *event_wait[3:]]) == "working"
    assert classify_stack(event_wait[4:]) == "idle"
    anyio_idle = [
        ("/usr/lib/python3.11/threading.py", "wait"),
        ("/usr/lib/python3.11/queue.py", "get"),
        ("/site-packages/anyio/_backends/_asyncio.py", "run"),
    ]
    assert classify_stack(anyio_idle) == "idle"
    assert classify_stack([("/app/mythreading.py", "wait")]) == "working"


def test_trios_idle_thread_cache_worker_is_idle() -> None:
    async def main() -> None:
        await trio.to_thread.run_sync(sum, [1, 2])

    trio.run(main)
    time.sleep(0.05)
    worker = next(t for t in threading.enumerate() if t.name.startswith("Trio thread"))
    frames = sys._current_frames()
    assert classify_stack([(f, n) for f, n in frames_of(frames[worker.ident])]) == "idle"
