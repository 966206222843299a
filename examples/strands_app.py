"""A user-style agent server around strands-agents' `Agent`, with idempotent invocations.

    uvicorn examples.strands_app:app --port 8000      # with strands-agents installed

`POST /v1/agents/{agent}/invocations` with `{"prompt": ...}` and an `Idempotency-Key` header
runs the agent's `invoke_async(prompt, idempotency_token=key)` in THROW mode: a duplicate of
the in-flight key waits for the primary's result, another key gets 409. The model is a stand-in
for a blocking Bedrock client called with `asyncio.to_thread`, as strands' BedrockModel does;
it asks for one tool call, so each invocation is model -> tool -> model. Released strands
(1.45.0 on) waits for the primary with a future, parking no thread.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator
from typing import Annotated, Any

from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from strands import Agent, tool
from strands.models.model import Model
from strands.types.agent import ConcurrentInvocationMode
from strands.types.exceptions import ConcurrencyException, IdempotencyAbortedError

MODEL_SECONDS = 0.5


class Prompt(BaseModel):
    prompt: str


@tool
async def lookup_weather() -> str:
    """Look up the current weather."""
    return "sunny, 21C"


def converse(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A blocking model client: the first turn asks for the tool, the next one answers."""
    time.sleep(MODEL_SECONDS)
    if not any(m["role"] == "assistant" for m in messages):
        use = {"toolUseId": "t1", "name": "lookup_weather", "input": {}}
        return {"content": [{"toolUse": use}], "stop": "tool_use"}
    return {"content": [{"text": "It is sunny."}], "stop": "end_turn"}


class BlockingModel(Model):
    def __init__(self) -> None:
        self.config: dict[str, Any] = {"model_id": "stand-in"}

    def update_config(self, **model_config: Any) -> None:
        self.config.update(model_config)

    def get_config(self) -> dict[str, Any]:
        return self.config

    async def structured_output(self, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        raise NotImplementedError
        yield {}

    async def stream(self, messages: Any, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        answer = await asyncio.to_thread(converse, [dict(m) for m in messages])
        yield {"messageStart": {"role": "assistant"}}
        for index, block in enumerate(answer["content"]):
            if "toolUse" in block:
                use = block["toolUse"]
                start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
                delta = {"toolUse": {"input": json.dumps(use["input"])}}
            else:
                start, delta = {}, {"text": block["text"]}
            yield {"contentBlockStart": {"contentBlockIndex": index, "start": start}}
            yield {"contentBlockDelta": {"contentBlockIndex": index, "delta": delta}}
            yield {"contentBlockStop": {"contentBlockIndex": index}}
        yield {"messageStop": {"stopReason": answer["stop"]}}
        usage = {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}
        yield {"metadata": {"usage": usage, "metrics": {"latencyMs": 1}}}


app = FastAPI()
model = BlockingModel()
agents: dict[str, Agent] = {}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/agents/{agent}/invocations")
async def invoke(
    agent: str, body: Prompt, idempotency_key: Annotated[str | None, Header()] = None
) -> JSONResponse:
    if agent not in agents:
        agents[agent] = Agent(
            model=model,
            tools=[lookup_weather],
            callback_handler=None,
            concurrent_invocation_mode=ConcurrentInvocationMode.THROW,
        )
    try:
        result = await agents[agent].invoke_async(body.prompt, idempotency_token=idempotency_key)
    except ConcurrencyException:
        return JSONResponse({"error": "conflict"}, status_code=409)
    except IdempotencyAbortedError:
        return JSONResponse({"error": "aborted"}, status_code=503)
    return JSONResponse({"agent": agent, "text": str(result)})
