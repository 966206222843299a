"""A minimal agent for the real agent-client-protocol: initialize, session/new, session/prompt.

acp's router calls these by name with snake_case keyword arguments taken from the validated
request; anything else answers JSON-RPC method_not_found. Accepting `**kwargs` everywhere keeps
the one class valid across releases whose signatures differ (0.8 vs 0.12 reorder and add
parameters). A prompt streams a few `session/update` chunks through the connection before its
answer, so a session carries notifications as well as replies.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import acp
from acp import InitializeResponse, NewSessionResponse, PromptResponse, RequestError

PROMPT_CHUNKS = 3
PROMPT_CHUNK_INTERVAL_S = 0.01


class MinimalAcpAgent:
    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        self.sessions: set[str] = set()
        self._client: Any = None

    def on_connect(self, conn: Any) -> None:
        # The agent-side connection; it is how session updates reach the client.
        self._client = conn

    async def initialize(self, protocol_version: int, **kwargs: Any) -> InitializeResponse:
        return InitializeResponse(protocol_version=acp.PROTOCOL_VERSION)

    async def new_session(self, cwd: str, **kwargs: Any) -> NewSessionResponse:
        session_id = uuid.uuid4().hex
        self.sessions.add(session_id)
        return NewSessionResponse(session_id=session_id)

    async def prompt(self, prompt: list[Any], session_id: str, **kwargs: Any) -> PromptResponse:
        if session_id not in self.sessions:
            raise RequestError.invalid_params({"sessionId": f"unknown session {session_id!r}"})
        for index in range(PROMPT_CHUNKS):
            await asyncio.sleep(PROMPT_CHUNK_INTERVAL_S)
            text = f"chunk {index + 1} of {PROMPT_CHUNKS} from {self.agent_id}"
            await self._client.session_update(
                session_id=session_id, update=acp.update_agent_message_text(text)
            )
        return PromptResponse(stop_reason="end_turn")

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        return None  # prompts here are short; nothing to interrupt
