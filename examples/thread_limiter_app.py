"""A sync build endpoint whose concurrent callers wait for one build: the anyio token trap.

    uvicorn examples.thread_limiter_app:app --port 8000        # waiters block a worker thread
    uvicorn examples.thread_limiter_app:fixed_app --port 8000  # the build has a limiter of its own

`GET /v1/agents/{agent}/build?key=K` builds K once; concurrent requests for the same key wait
for the first one's build. Every sync route runs on one of anyio's 40 default worker threads.
In `app` the waiters block their thread on a threading.Event, and the build itself is offloaded
with `anyio.to_thread.run_sync` from the route (via `anyio.from_thread.run`), needing a second
token from the same 40: past 40 concurrent callers every token is held by a waiter, no build
can start, nothing answers, and the sync `/healthz` stops answering too (fastapi #3205).
`fixed_app` runs the build on a CapacityLimiter of its own, so waiters cannot starve it.
"""

from __future__ import annotations

import threading
import time

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import FastAPI

PREP_S = 0.1
BUILD_S = 0.3
WAIT_S = 10.0


def create_app(own_limiter: bool) -> FastAPI:
    app = FastAPI()
    builds: dict[str, threading.Event] = {}
    lock = threading.Lock()
    limiter: list[anyio.CapacityLimiter] = []

    def build(key: str, done: threading.Event) -> None:
        time.sleep(BUILD_S)  # a blocking client call
        done.set()

    async def build_on_own_limiter(key: str, done: threading.Event) -> None:
        if not limiter:
            limiter.append(anyio.CapacityLimiter(8))
        await anyio.to_thread.run_sync(build, key, done, limiter=limiter[0])

    @app.get("/v1/agents/{agent}/build")
    def build_route(agent: str, key: str) -> dict[str, str]:
        with lock:
            done = builds.get(key)
            first = done is None
            if first:
                done = builds[key] = threading.Event()
        assert done is not None
        if not first:
            if not done.wait(WAIT_S):
                return {"key": key, "status": "timeout"}
            return {"key": key, "status": "built"}
        time.sleep(PREP_S)
        if own_limiter:
            anyio.from_thread.run(build_on_own_limiter, key, done)
        else:
            anyio.from_thread.run(anyio.to_thread.run_sync, build, key, done)
        return {"key": key, "status": "built"}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


app = create_app(own_limiter=False)
fixed_app = create_app(own_limiter=True)
