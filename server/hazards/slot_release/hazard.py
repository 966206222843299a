"""A capacity slot not released on cancellation: SSE streams behind a max-parallel counter.

`GET /v1/agents/{agent_id}/limited?events=N&interval_ms=M` streams N `message` events and a
`result`, taking one of MAX_PARALLEL slots for the stream's life; with every slot taken the
answer is 429, as litellm's `max_parallel_requests` does. Concurrency model: the body runs in
Starlette's streaming task; a client that hangs up mid-stream makes Starlette cancel that task
(CancelledError inside the body) or leaves the generator to be closed (GeneratorExit).

- `release_on_return` (the bug, litellm #27955): the slot is given back after the last event
  and in `except Exception`, neither of which a CancelledError or GeneratorExit reaches (both
  are BaseException). Each dropped stream keeps its slot forever; after MAX_PARALLEL drops
  every request is a 429 while nothing is in flight.
- `release_finally` (the fix, PR #30020): released in `finally`, however the stream ends.

The slots held, the streams really running and the slots lost are in `/v1/status`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Path, Query
from fastapi.responses import JSONResponse, StreamingResponse
from stampede.server.api_models import error_responses, text_response
from stampede.server.hazards.base import AGENT_ID, SpecHazard, hazard_status
from stampede.server.hazards.slot_release import SLOT_RELEASE
from stampede.server.settings import ServerSettings

MAX_PARALLEL = 8


# One server-sent event of the stream, as OpenAPI 3.1 tools read a text/event-stream schema.
LIMITED_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"enum": ["message", "result"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
}


class SlotReleaseHazard(SpecHazard):
    spec = SLOT_RELEASE

    def __init__(self, settings: ServerSettings) -> None:
        super().__init__(settings)
        self.held = 0  # slots taken and not given back
        self.running = 0  # streams whose body is running now (the truth the counter should be)
        self.router.add_api_route(
            "/v1/agents/{agent_id}/limited",
            self.limited,
            methods=["GET"],
            response_model=None,
            responses={
                200: text_response(
                    "text/event-stream", "`message` events, then one `result`", LIMITED_EVENT
                ),
                **error_responses(422, 429),
            },
        )

    async def limited(
        self,
        agent_id: Annotated[str, Path(pattern=AGENT_ID)],
        events: Annotated[int, Query(ge=1, le=1000)] = 10,
        interval_ms: Annotated[float, Query(ge=0, le=5000)] = 50,
    ) -> object:
        if self.held >= MAX_PARALLEL:
            self.counts["rejected"] += 1
            return JSONResponse(
                {
                    "error": "too_many_requests",
                    "message": f"max parallel requests ({MAX_PARALLEL}) reached",
                },
                status_code=429,
            )
        self.held += 1
        self.counts["started"] += 1
        body = self._finally if self.impl == "release_finally" else self._on_return
        return StreamingResponse(
            body(agent_id, events, interval_ms / 1000), media_type="text/event-stream"
        )

    async def _events(self, agent_id: str, events: int, interval_s: float) -> AsyncIterator[bytes]:
        for index in range(events):
            data = json.dumps({"agent": agent_id, "index": index})
            yield f"event: message\ndata: {data}\n\n".encode()
            await asyncio.sleep(interval_s)
        yield b'event: result\ndata: {"done":true}\n\n'

    def _release(self, how: str) -> None:
        self.held -= 1
        self.counts[f"released_{how}"] += 1

    async def _on_return(
        self, agent_id: str, events: int, interval_s: float
    ) -> AsyncIterator[bytes]:
        self.running += 1
        try:
            async for chunk in self._events(agent_id, events, interval_s):
                yield chunk
        except Exception:
            self._release("on_error")
            raise
        except BaseException:  # CancelledError, GeneratorExit: counted, the slot kept (the bug)
            self.counts["slot_lost"] += 1
            raise
        finally:
            self.running -= 1
        self._release("on_return")

    async def _finally(self, agent_id: str, events: int, interval_s: float) -> AsyncIterator[bytes]:
        self.running += 1
        try:
            async for chunk in self._events(agent_id, events, interval_s):
                yield chunk
        finally:
            self.running -= 1
            self._release("finally")

    def status(self) -> dict[str, object]:
        return hazard_status(
            self, max_parallel=MAX_PARALLEL, slots_held=self.held, streams_running=self.running
        )
