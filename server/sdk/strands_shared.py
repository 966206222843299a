"""`--shared-agent-impl strands`: the chat route answered by ONE real strands `Agent` for all.

`POST /v1/agents/{agent_id}/chat` (the shared-agent hazard's route and answer shape) runs
`invoke_async(prompt)` on a single module-level-style `strands.Agent` shared by every request,
the pattern of strands-agents #1176, so the installed release decides what an overlap does:

- before 1.22.0 nothing stops a second call: both append their user message to the one
  `messages` list, the model is sent a history with two user messages in a row and refuses it
  (Bedrock's Converse rule, which the stub model enforces), the call that got through appends
  its answer after the stranded user messages, and from then on every call, even one at a
  time, is refused: corrupted answers and failures for good;
- from 1.22.0 (PR #1453) `stream_async` takes a non-blocking `threading.Lock` first and raises
  `ConcurrencyException` for an overlapping call, before it touches the history; this route,
  as a plain server would, lets that become a 500. One at a time it stays sound.

Concurrency model: every request is a task on the server's one event loop; the stub model's
`stream()` awaits MODEL_S, during which other requests enter the same agent. The agent keeps its
whole history (NullConversationManager: the default sliding window would trim it, and the answer
check is history == 2 x turns). Turns are counted here, once per call strands completed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncGenerator
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from stampede.server.api_models import error_responses
from stampede.server.hazards.base import AGENT_ID, hazard_status
from stampede.server.hazards.shared_agent import SHARED_AGENT
from stampede.server.hazards.shared_agent.hazard import MODEL_S, ChatTurn
from stampede.server.sdk import SHARED_AGENT_MINIMUM, STRANDS, sdk_version
from stampede.server.settings import ServerSettings
from strands import Agent
from strands.agent.conversation_manager import NullConversationManager
from strands.models.model import Model

IMPL = "strands"


class HistoryRejectedError(Exception):
    """The stub model refused the history, as Bedrock's Converse refuses roles out of turn."""


def check_roles(messages: Any) -> str | None:
    """Why Converse would refuse this history (None when it would not): it must alternate
    user/assistant, starting and ending with a user message."""
    roles = [message.get("role") for message in messages]
    if not roles or roles[-1] != "user":
        return "the conversation must end with a user message"
    for index, role in enumerate(roles):
        if role != ("user" if index % 2 == 0 else "assistant"):
            return f"roles must alternate between user and assistant (message {index} is {role})"
    return None


class AlternatingModel(Model):
    """A strands Model that answers after MODEL_S and refuses a history out of turn."""

    def __init__(self) -> None:
        self.config: dict[str, Any] = {"model_id": "stampede-stub"}
        self.calls: Counter[str] = Counter()

    def update_config(self, **model_config: Any) -> None:
        self.config.update(model_config)

    def get_config(self) -> dict[str, Any]:
        return self.config

    async def structured_output(
        self, output_model: Any, prompt: Any, system_prompt: str | None = None, **kwargs: Any
    ) -> AsyncGenerator[dict[str, Any], None]:
        raise NotImplementedError("the stub model has no structured output")
        yield {}  # pragma: no cover - makes this an async generator, as the interface wants

    async def stream(
        self, messages: Any, tool_specs: Any = None, system_prompt: str | None = None, **kwargs: Any
    ) -> AsyncGenerator[dict[str, Any], None]:
        # Judged as sent: the list is the agent's own, and other calls append to it meanwhile.
        refusal = check_roles(messages)
        last = messages[-1] if messages else {}
        await asyncio.sleep(MODEL_S)  # the model call: other requests run meanwhile
        if refusal is not None:
            self.calls["refused"] += 1
            raise HistoryRejectedError(refusal)
        self.calls["answered"] += 1
        text = "echo: " + "".join(block.get("text", "") for block in last.get("content", []))
        yield {"messageStart": {"role": "assistant"}}
        yield {"contentBlockStart": {"contentBlockIndex": 0, "start": {}}}
        yield {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": text}}}
        yield {"contentBlockStop": {"contentBlockIndex": 0}}
        yield {"messageStop": {"stopReason": "end_turn"}}
        usage = {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}
        yield {"metadata": {"usage": usage, "metrics": {"latencyMs": int(MODEL_S * 1000)}}}


class StrandsSharedAgentHazard:
    name = SHARED_AGENT.name
    setting = SHARED_AGENT.setting
    impls = SHARED_AGENT.choices

    def __init__(self, settings: ServerSettings) -> None:
        version = sdk_version(STRANDS, f"--shared-agent-impl {IMPL}", SHARED_AGENT_MINIMUM)
        self.sdk = f"{STRANDS} {version}"
        self.impl: str = settings.shared_agent_impl
        self.counts: Counter[str] = Counter()
        self.model = AlternatingModel()
        self.agent = Agent(
            model=self.model,
            callback_handler=None,  # silent; the default prints every event
            conversation_manager=NullConversationManager(),
        )
        self.turns = 0
        self.router = APIRouter()
        self.router.add_api_route(
            "/v1/agents/{agent_id}/chat",
            self.chat,
            methods=["POST"],
            response_model=None,
            responses=error_responses(400, 413, 422, 500),
        )

    async def chat(
        self, agent_id: Annotated[str, Path(pattern=AGENT_ID)], turn: ChatTurn
    ) -> JSONResponse:
        try:
            result = await self.agent.invoke_async(turn.prompt)
        except Exception as exc:  # what a plain server does with it: a 500
            kind = type(exc).__name__
            self.counts[kind] += 1
            body = {"error": "agent_failed", "kind": kind, "message": f"{kind}: {exc}"}
            return JSONResponse(body, status_code=500)
        self.turns += 1
        history = len(self.agent.messages)
        self.counts["ok"] += 1
        if history != 2 * self.turns:
            self.counts["corrupted_answer"] += 1
        text = "".join(block.get("text", "") for block in result.message.get("content", []))
        return JSONResponse({"answer": text, "turns": self.turns, "history": history})

    def status(self) -> dict[str, object]:
        return hazard_status(
            self,
            sdk=self.sdk,
            model_s=MODEL_S,
            history=len(self.agent.messages),
            model_calls=dict(sorted(self.model.calls.items())),
        )
