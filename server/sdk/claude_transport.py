"""A stand-in for the Claude Code CLI, so the real claude-agent-sdk runs with no CLI and no API.

Every claude-agent-sdk release accepts `query(prompt=..., options=..., transport=...)`; the
SDK's `Query` speaks its control protocol and stream-json over that transport. This transport
plays the CLI's side: it answers each `control_request` (the SDK's `initialize`, and anything
else it asks) with a `control_response` carrying the same `request_id`, and once the user turn
arrives (at once, for releases before 0.1.31, which passed the prompt as an argument) it plays
a Script: a `system`/`init` message, then an `assistant` message per event
and a closing `result`, paced by the script's interval, in the shapes the SDK's message parser
reads. After the result the stream ends, as the CLI's stdout does when the CLI exits.

Concurrency model: `write()` runs in whichever task the SDK writes from and only enqueues;
`read_messages()` runs in the SDK's reader task (an anyio task group up to 0.1.50, a plain
task since) and is the only place that sleeps; `stopped` is set when it ends, however the SDK
ended it. `close()` ends the reader from any task. Each transport carries a label (its
consumption pattern), so a report whose traceback holds it can be traced to its stream.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from claude_agent_sdk import Transport
from stampede.server.hazards.stream.query import Script

MODEL = "stampede-stand-in"
_PLAY = "play"  # inbox marker: the user turn arrived, play the script
_EOF = "eof"  # inbox marker: the transport was closed, end the reader


def initialize_response() -> dict[str, Any]:
    """What the CLI answers `initialize` with, trimmed to what the SDK may read."""
    return {
        "commands": [],
        "output_style": "default",
        "available_output_styles": ["default"],
        "models": [],
        "account": {},
    }


class StandInTransport(Transport):
    """The CLI's side of one `query()`: control protocol answers, then a scripted turn."""

    def __init__(
        self,
        script: Script,
        label: str = "",
        stopped: asyncio.Event | None = None,
        *,
        prompt_in_args: bool = False,
    ) -> None:
        self.script = script
        # Before 0.1.31 the SDK put a string prompt on the CLI's command line (`--print`) and
        # wrote nothing to it: the CLI answered at once. From 0.1.31 it always initializes and
        # writes the user turn on stdin.
        self.prompt_in_args = prompt_in_args
        self.label = label  # who uses this stream (a consumption pattern); read by reports
        # Set when the SDK's reader stops reading (the result played, or it was cancelled).
        self.stopped = stopped or asyncio.Event()
        self.session_id = str(uuid.uuid4())
        self._inbox: asyncio.Queue[str | dict[str, Any]] = asyncio.Queue()
        self._ready = False
        self.input_ended = False
        self.closed = False
        self.control_requests = 0
        self.played = 0  # script messages handed to the SDK

    async def connect(self) -> None:
        self._ready = True
        if self.prompt_in_args:
            self._inbox.put_nowait(_PLAY)

    def is_ready(self) -> bool:
        return self._ready

    async def write(self, data: str) -> None:
        for line in data.splitlines():
            if line.strip():
                self._receive(json.loads(line))

    def _receive(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "control_request":
            self.control_requests += 1
            request = message.get("request") or {}
            answer = initialize_response() if request.get("subtype") == "initialize" else {}
            self._inbox.put_nowait(
                {
                    "type": "control_response",
                    "response": {
                        "subtype": "success",
                        "request_id": message["request_id"],
                        "response": answer,
                    },
                }
            )
        elif kind == "user":
            self._inbox.put_nowait(_PLAY)
        # control_responses (answers to requests the CLI makes) never come: it makes none.

    async def read_messages(self) -> AsyncIterator[dict[str, Any]]:
        try:
            while True:
                item = await self._inbox.get()
                if item == _EOF:
                    return
                if item == _PLAY:
                    async for message in self._play():
                        yield message
                    return  # the CLI exits after its result
                if isinstance(item, dict):
                    yield item
        finally:
            self.stopped.set()

    async def _play(self) -> AsyncIterator[dict[str, Any]]:
        yield self._system_init()
        for index in range(self.script.events):
            await asyncio.sleep(self.script.interval_s)
            if self.closed:
                return
            self.played += 1
            yield self._stream_json(self.script.message(index))

    def _system_init(self) -> dict[str, Any]:
        return {
            "type": "system",
            "subtype": "init",
            "session_id": self.session_id,
            "model": MODEL,
            "tools": [],
            "mcp_servers": [],
            "permissionMode": "default",
            "uuid": str(uuid.uuid4()),
        }

    def _stream_json(self, message: dict[str, Any]) -> dict[str, Any]:
        """One script message in the CLI's stream-json shape."""
        if message["type"] == "result":
            return {
                "type": "result",
                "subtype": "success",
                "is_error": False,
                "duration_ms": round(self.script.events * self.script.interval_s * 1000),
                "duration_api_ms": 0,
                "num_turns": 1,
                "result": message["text"],
                "session_id": self.session_id,
                "total_cost_usd": 0.0,
                "usage": {"input_tokens": 0, "output_tokens": 0},
                "uuid": str(uuid.uuid4()),
            }
        return {
            "type": "assistant",
            "message": {
                "id": f"msg_{message['index']}",
                "type": "message",
                "role": "assistant",
                "model": MODEL,
                "content": [{"type": "text", "text": message["text"]}],
                "stop_reason": None,
                "usage": {"input_tokens": 0, "output_tokens": 1},
            },
            "parent_tool_use_id": None,
            "session_id": self.session_id,
            "uuid": str(uuid.uuid4()),
        }

    async def end_input(self) -> None:
        self.input_ended = True

    async def close(self) -> None:
        self._ready = False
        self.closed = True
        self._inbox.put_nowait(_EOF)
