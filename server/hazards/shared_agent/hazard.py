"""A shared agent raced by overlapping requests: chat turns on one agent object.

`POST /v1/agents/{agent_id}/chat` with `{"session": S, "prompt": P}` runs one turn: the agent
appends the user message to its history, awaits the model (which answers the last message, and
refuses a history that does not end with a user message), appends the answer, and returns its
turn count and history length: a sound agent has exactly two messages per turn.

Concurrency model: every request is a task on the one event loop; the model call is the await
during which another request can run. Per implementation:

- `shared` (the bug, strands-agents #1176 before 1.22.0): one module-level agent for every
  request. Two overlapping turns interleave their messages: one answers with a history that no
  longer matches its turns, the other finds an assistant message last and fails (500), and the
  history stays corrupted, so every later turn answers wrongly too, even one at a time.
- `per_session` (fix): an agent per session (bounded, least recently used dropped).
- `locked` (fix, as PR #1453 detects it, answered the way a server should): one agent, and an
  overlapping call is refused with a 409 instead of racing it.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Annotated

from fastapi import Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from stampede.server.api_models import error_responses
from stampede.server.hazards.base import AGENT_ID, SpecHazard, hazard_status
from stampede.server.hazards.shared_agent import SHARED_AGENT
from stampede.server.settings import ServerSettings

MODEL_S = 0.05
MAX_SESSIONS = 4096


class ChatTurn(BaseModel):
    session: str = Field(min_length=1, max_length=128)
    prompt: str = Field(max_length=4096)


class ModelError(Exception):
    """The model refused the history it was given."""


class ChatAgent:
    """An agent that keeps its conversation, as strands' Agent keeps `messages`."""

    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []
        self.turns = 0

    async def invoke(self, prompt: str) -> dict[str, int | str]:
        self.messages.append({"role": "user", "text": prompt})
        await asyncio.sleep(MODEL_S)  # the model call: other requests run meanwhile
        if self.messages[-1]["role"] != "user":
            raise ModelError("the conversation must end with a user message")
        answer = f"echo: {self.messages[-1]['text']}"
        self.messages.append({"role": "assistant", "text": answer})
        self.turns += 1
        return {"answer": answer, "turns": self.turns, "history": len(self.messages)}


class SharedAgentHazard(SpecHazard):
    spec = SHARED_AGENT

    def __init__(self, settings: ServerSettings) -> None:
        super().__init__(settings)
        self.agent = ChatAgent()  # `shared` and `locked`: the one module-level agent
        self.lock = asyncio.Lock()
        self.sessions: OrderedDict[str, ChatAgent] = OrderedDict()
        self.router.add_api_route(
            "/v1/agents/{agent_id}/chat",
            self.chat,
            methods=["POST"],
            response_model=None,
            responses=error_responses(400, 409, 413, 422, 500),
        )

    def _session_agent(self, session: str) -> ChatAgent:
        agent = self.sessions.pop(session, None) or ChatAgent()
        self.sessions[session] = agent
        while len(self.sessions) > MAX_SESSIONS:
            self.sessions.popitem(last=False)
        return agent

    async def chat(
        self, agent_id: Annotated[str, Path(pattern=AGENT_ID)], turn: ChatTurn
    ) -> JSONResponse:
        try:
            if self.impl == "per_session":
                result = await self._session_agent(f"{agent_id}/{turn.session}").invoke(turn.prompt)
            elif self.impl == "locked":
                if self.lock.locked():
                    self.counts["conflict"] += 1
                    return JSONResponse(
                        {"error": "conflict", "message": "agent busy: one call at a time"}, 409
                    )
                async with self.lock:
                    result = await self.agent.invoke(turn.prompt)
            else:
                result = await self.agent.invoke(turn.prompt)
        except ModelError as exc:
            self.counts["error"] += 1
            return JSONResponse({"error": "agent_failed", "message": str(exc)}, status_code=500)
        self.counts["ok"] += 1
        if result["history"] != 2 * int(result["turns"]):
            self.counts["corrupted_answer"] += 1
        return JSONResponse(result)

    def status(self) -> dict[str, object]:
        return hazard_status(self, sessions=len(self.sessions), model_s=MODEL_S)
