"""The stub model every protocol example calls, and the two ways an app goes wrong.

`answer` stands for a blocking model client (as SDKs call one, via a worker thread). The
`Dedup` helper is an in-house "same request in flight? wait for its answer" cache, the way an
app deduplicates retries of one prompt:

- `Dedup(park_threads=True)` waits on a threading.Event in a default-executor worker: a few
  duplicates hold every worker, the primary's model call never gets one, and the app wedges.
- `Dedup(park_threads=False)` awaits an asyncio future: no thread is held.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

MODEL_SECONDS = 0.05
DEDUP_MODEL_SECONDS = 1.0  # a slower model behind the cache: duplicates do arrive mid-call


def call_model(prompt: str, seconds: float = MODEL_SECONDS) -> str:
    time.sleep(seconds)  # a blocking HTTP client to the model provider
    return f"echo: {prompt}"


async def answer(prompt: str, seconds: float = MODEL_SECONDS) -> str:
    return await asyncio.to_thread(call_model, prompt, seconds)


class BrokenTool(RuntimeError):
    """What the failing variants raise: a tool whose backend is down."""


@dataclass
class _InFlight:
    done: threading.Event = field(default_factory=threading.Event)
    future: asyncio.Future[str] | None = None
    text: str = ""


class Dedup:
    def __init__(self, park_threads: bool) -> None:
        self.park_threads = park_threads
        self.busy: dict[str, _InFlight] = {}

    async def run(self, prompt: str) -> str:
        current = self.busy.get(prompt)
        if current is not None:  # a duplicate: wait for the primary's answer
            if self.park_threads:
                await asyncio.to_thread(current.done.wait)
                return current.text
            assert current.future is not None
            return await asyncio.shield(current.future)
        mine = _InFlight(future=asyncio.get_running_loop().create_future())
        self.busy[prompt] = mine
        try:
            text = prompt
            for _ in range(2):  # two model calls, each on a worker thread
                text = await answer(text, DEDUP_MODEL_SECONDS)
            mine.text = text
        finally:
            del self.busy[prompt]
            mine.done.set()
            if mine.future is not None and not mine.future.done():
                mine.future.set_result(mine.text)
        return mine.text
