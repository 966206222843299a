"""`--stream-impl claude-agent-sdk`: the SSE stream endpoint served by the real `query()`.

Each stream runs claude-agent-sdk's own `query(prompt=..., options=..., transport=...)` over
the stand-in CLI transport (claude_transport.py), so the SDK's Query, its task group (up to
0.1.50) or its plain tasks (from 0.1.51, PR #746) and its teardown are the installed release's
own code. How the endpoint consumes the generator is the consumption pattern (consume.py):
`--stream-consume` lists the patterns the server rotates through, one per stream, and
`?consume=NAME` picks one for a request; `--stream-break-after k` (or `?break_after=k`) is
when the server-side patterns stop.

What is counted per pattern: streams started, completed and dropped; consumer tasks cancelled
by a leaked cancel scope; exceptions escaping the response (ASGI errors); and every loop
report, by kind, traced to its stream: a report's traceback passes through the SDK's
`process_query`, whose locals hold that stream's transport, and the transport carries the
pattern's name.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from typing import Annotated, Any

from claude_agent_sdk import AssistantMessage, ClaudeAgentOptions, ResultMessage, query
from fastapi import APIRouter, Path, Query
from stampede.server.hazards.base import AGENT_ID, hazard_status
from stampede.server.hazards.stream import STREAM
from stampede.server.hazards.stream.consume import (
    CONSUME_PATTERNS,
    PatternResponse,
    Stream,
    parse_patterns,
)
from stampede.server.hazards.stream.hazard import fit_to_duration, sse_frame
from stampede.server.hazards.stream.query import Script
from stampede.server.sdk import CLAUDE, release, sdk_version
from stampede.server.sdk.claude_transport import StandInTransport
from stampede.server.settings import ServerSettings

IMPL = "claude-agent-sdk"
PROMPT = "Stream your answer."
# The first release that writes a string prompt to the CLI's stdin (before: as an argument).
PROMPT_ON_STDIN = (0, 1, 31)


def text_of(message: AssistantMessage | ResultMessage) -> str:
    if isinstance(message, ResultMessage):
        return message.result or ""
    return "".join(getattr(block, "text", "") for block in message.content)


def stream_label(exception: BaseException | None) -> str | None:
    """The label of the stand-in transport whose query() raised `exception`, if any.

    Walks the traceback's frames (the SDK's process_query holds its transport in a local),
    through chained and grouped exceptions.
    """
    seen: set[int] = set()
    pending = [exception] if exception is not None else []
    while pending:
        exc = pending.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            for value in tb.tb_frame.f_locals.values():
                if isinstance(value, StandInTransport):
                    return value.label
            tb = tb.tb_next
        pending += [e for e in (exc.__cause__, exc.__context__) if e is not None]
        if isinstance(exc, BaseExceptionGroup):
            pending += list(exc.exceptions)
    return None


class ClaudeStreamHazard:
    name = "stream"
    setting = "stream_impl"
    impls = STREAM.choices
    impl = IMPL

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        version = sdk_version(CLAUDE, f"--stream-impl {IMPL}")
        self.sdk = f"{CLAUDE} {version}"
        self.prompt_in_args = release(version) < PROMPT_ON_STDIN
        self.patterns = parse_patterns(settings.stream_consume)
        self.counts: Counter[str] = Counter()
        self.by_pattern: dict[str, Counter[str]] = {p: Counter() for p in CONSUME_PATTERNS}
        self.asgi_error_texts: dict[str, Counter[str]] = {p: Counter() for p in CONSUME_PATTERNS}
        self.consumers: set[Any] = set()
        self._rotation = itertools.cycle(self.patterns)
        self.router = APIRouter()
        self.router.add_api_route(
            "/v1/agents/{agent_id}/stream", self.stream, methods=["GET"], response_model=None
        )

    async def stream(
        self,
        agent_id: Annotated[str, Path(pattern=AGENT_ID)],
        events: Annotated[int | None, Query(ge=1, le=10_000)] = None,
        interval_ms: Annotated[float | None, Query(ge=0, le=60_000)] = None,
        break_after: Annotated[int | None, Query(ge=1, le=10_000)] = None,
        consume: Annotated[str | None, Query(pattern="^(relay|break|flag|cancel)$")] = None,
    ) -> PatternResponse:
        s = self.settings
        # Bounded like every stream: events x interval fits --stream-max-duration-s.
        fitted, interval_s = fit_to_duration(
            events if events is not None else s.stream_events,
            (interval_ms if interval_ms is not None else s.stream_interval_ms) / 1000,
            s.stream_max_duration_s,
        )
        script = Script(agent_id=agent_id, events=fitted, interval_s=interval_s)
        pattern = consume or next(self._rotation)
        self.counts["started"] += 1

        torn_down = asyncio.Event()

        def open_query(label: str) -> AsyncIterator[Any]:
            transport = StandInTransport(
                script, label, torn_down, prompt_in_args=self.prompt_in_args
            )
            return query(prompt=PROMPT, options=ClaudeAgentOptions(), transport=transport)

        def frame(message: Any, index: int) -> bytes | None:
            if not isinstance(message, AssistantMessage | ResultMessage):
                return None  # the system/init message stays on the server
            kind = "result" if isinstance(message, ResultMessage) else "assistant"
            text = text_of(message)
            return sse_frame({"type": kind, "agent_id": agent_id, "index": index, "text": text})

        stream = Stream(
            pattern=pattern,
            k=break_after if break_after is not None else s.stream_break_after,
            open_query=open_query,
            frame=frame,
            counts=self.by_pattern[pattern],
            tasks=self.consumers,
            torn_down=torn_down,
        )
        return PatternResponse(stream, self.asgi_error_texts[pattern])

    def observe_loop_error(self, kind: str, exception: BaseException | None) -> None:
        """Detector observer: count a loop report against the pattern whose stream raised it."""
        label = stream_label(exception)
        if label in self.by_pattern:
            self.by_pattern[label][kind] += 1

    def status(self) -> dict[str, object]:
        patterns = {}
        for name, counts in self.by_pattern.items():
            entry: dict[str, object] = dict(sorted(counts.items()))
            if self.asgi_error_texts[name]:
                entry["asgi_error_texts"] = dict(self.asgi_error_texts[name])
            patterns[name] = entry
        return hazard_status(
            self,
            sdk=self.sdk,
            consume=list(self.patterns),
            break_after=self.settings.stream_break_after,
            events=self.settings.stream_events,
            interval_ms=self.settings.stream_interval_ms,
            live_consumers=len(self.consumers),
            patterns=patterns,
        )
