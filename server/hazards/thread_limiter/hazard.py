"""anyio thread-limiter exhaustion: sync work behind the one default CapacityLimiter(40).

`GET /v1/agents/{agent_id}/build?key=K` builds K once: the first request for a key (the
primary) runs a sync step (a blocking "model" call) that stores the result and sets the key's
Event; concurrent requests for the same key (duplicates, a client's retries) wait for that
Event. Concurrency model, per implementation:

- `sync_wait` (the bug): a sync `def` route, so every request holds one of anyio's 40 default
  worker tokens for as long as it runs. Duplicates park their thread in `Event.wait`; the
  primary runs its step with `anyio.from_thread.run(anyio.to_thread.run_sync, step)`, which
  needs a second token from the same limiter. Past 40 concurrent requests every token is held
  by a waiter (or a primary waiting for a token), no step can start, and nothing sets any
  Event: the server is wedged until the waits time out (`?wait_s=`, default 10 s).
- `async_wait` (fix): an `async def` route; duplicates await an asyncio.Event, holding no
  thread, and only the step itself borrows a token.
(The other fix, a CapacityLimiter of the step's own, keeps waiters off the step's tokens but
still lets them fill the default pool, so a sync health route still queues behind them; it is
left to the example app, examples/thread_limiter_app.py.)

`GET /v1/threads/healthz` is a sync route too: when the tokens run out it cannot answer, even
though the async `/healthz` still does. The hazard's counts and the limiter's tokens are in
`/v1/status`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import Path, Query
from fastapi.responses import JSONResponse
from stampede.server.api_models import error_responses
from stampede.server.hazards.base import AGENT_ID, SpecHazard, hazard_status
from stampede.server.hazards.thread_limiter import THREAD_LIMITER
from stampede.server.settings import ServerSettings

PREP_S = 0.1  # the primary's sync preparation, before it asks for its step
STEP_S = 0.3  # the primary's blocking step
WAIT_S = 10.0  # how long a duplicate waits for its primary before a 504
MAX_KEYS = 10_000  # finished keys kept for late duplicates; oldest dropped first


@dataclass
class Build:
    done: threading.Event = field(default_factory=threading.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    result: dict[str, object] | None = None


# The parameters both builds take, the sync one and the async one.
AgentId = Annotated[str, Path(pattern=AGENT_ID)]
BuildKey = Annotated[str, Query(min_length=1, max_length=128)]
WaitS = Annotated[float, Query(gt=0, le=60)]

# The body of every error here has the app's shape (api_models.ErrorBody), as its schema says.
TIMED_OUT = {"error": "duplicate_timeout", "message": "timed out waiting for the primary"}


class ThreadLimiterHazard(SpecHazard):
    spec = THREAD_LIMITER

    def __init__(self, settings: ServerSettings) -> None:
        super().__init__(settings)
        self._builds: dict[str, Build] = {}
        self._lock = threading.Lock()
        build = self.build_async if self.impl == "async_wait" else self.build_sync
        self.router.add_api_route(
            "/v1/agents/{agent_id}/build",
            build,
            methods=["GET"],
            response_model=None,
            responses=error_responses(422, 504),
        )
        self.router.add_api_route(
            "/v1/threads/healthz", self.sync_healthz, methods=["GET"], response_model=None
        )

    def _claim(self, agent_id: str, key: str) -> tuple[Build, bool]:
        with self._lock:
            build = self._builds.get(f"{agent_id}/{key}")
            if build is not None:
                return build, False
            while len(self._builds) >= MAX_KEYS:
                self._builds.pop(next(iter(self._builds)))
            build = self._builds[f"{agent_id}/{key}"] = Build()
            return build, True

    def _step(self, build: Build, key: str) -> dict[str, object]:
        time.sleep(STEP_S)  # the blocking model call
        build.result = {"key": key, "built_at": time.time()}
        build.done.set()
        return build.result

    def build_sync(self, agent_id: AgentId, key: BuildKey, wait_s: WaitS = WAIT_S) -> object:
        build, primary = self._claim(agent_id, key)
        if primary:
            self.counts["primary"] += 1
            time.sleep(PREP_S)  # loading the context: duplicates pile in meanwhile
            # A second token, from the limiter this thread already holds one of.
            result = anyio.from_thread.run(anyio.to_thread.run_sync, self._step, build, key)
            return {"role": "primary", **result}
        self.counts["duplicate"] += 1
        if not build.done.wait(wait_s):  # parks this worker thread, holding its token
            self.counts["timeout"] += 1
            return JSONResponse(TIMED_OUT, status_code=504)
        return {"role": "duplicate", **(build.result or {})}

    async def build_async(self, agent_id: AgentId, key: BuildKey, wait_s: WaitS = WAIT_S) -> object:
        build, primary = self._claim(agent_id, key)
        if primary:
            self.counts["primary"] += 1
            await asyncio.sleep(PREP_S)
            result = await anyio.to_thread.run_sync(self._step, build, key)
            build.ready.set()
            return {"role": "primary", **result}
        self.counts["duplicate"] += 1
        try:
            await asyncio.wait_for(build.ready.wait(), wait_s)  # no thread held while waiting
        except TimeoutError:
            self.counts["timeout"] += 1
            return JSONResponse(TIMED_OUT, status_code=504)
        return {"role": "duplicate", **(build.result or {})}

    def sync_healthz(self) -> dict[str, str]:
        # A sync route: it needs a default-limiter token like any other.
        return {"status": "ok"}

    def status(self) -> dict[str, object]:
        return hazard_status(self, prep_s=PREP_S, step_s=STEP_S, wait_s=WAIT_S)
