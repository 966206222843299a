"""Stampede's stub Bedrock model as a strands `Model`, and the agent's one tool.

Concurrency model: like strands' BedrockModel, `stream()` runs the blocking `converse()` on the
loop's default executor with `asyncio.to_thread`, then replays the answer as ConverseStream
events. The call is tagged kind "model" with the owner id that the invocation service put in
the calling context (the in-flight primary's id), so the executor's snapshot and the wedge rule
see strands' model calls exactly as they see the builtin agent's. The tool is async, so it runs
on the loop: with `--model-cycles 2` (model -> tool -> model) the primary's second model call is
the item that queues behind parked waiters, as with the builtin agent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable
from typing import Any

from stampede.probe.executor import tagged, work_owner
from stampede.server.agent import TOOLS, _timed_converse
from stampede.server.model import StubBedrockModel
from strands import tool
from strands.models.model import Model

TOOL_NAME = TOOLS[0]  # the stub asks for the builtin agent's tool; strands runs this one


@tool(name=TOOL_NAME)
async def lookup_weather() -> str:
    """Look up the current weather (a stub: always the same answer)."""
    await asyncio.sleep(0)
    return f"{TOOL_NAME}: sunny, 21C"


class StrandsStubModel(Model):
    """A strands Model over StubBedrockModel; stateless, so one instance serves every agent."""

    def __init__(
        self, stub: StubBedrockModel, on_model_call: Callable[[float], None] | None = None
    ) -> None:
        self.stub = stub
        self.on_model_call = on_model_call
        self.config: dict[str, Any] = {"model_id": stub.model_id}

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
        self,
        messages: Any,
        tool_specs: Any = None,
        system_prompt: str | None = None,
        **kwargs: Any,  # later strands releases keep adding keyword arguments
    ) -> AsyncGenerator[dict[str, Any], None]:
        # A copy: the worker reads the history while strands may append to its own list.
        turn = [dict(message) for message in messages]
        with tagged("model", work_owner()):
            response = await asyncio.to_thread(_timed_converse, self.stub, turn, self.on_model_call)
        for event in converse_events(response):
            yield event


def converse_events(response: dict[str, Any]) -> list[dict[str, Any]]:
    """A Converse answer as the ConverseStream events strands' event loop consumes."""
    events: list[dict[str, Any]] = [{"messageStart": {"role": "assistant"}}]
    for index, block in enumerate(response["output"]["message"]["content"]):
        if "toolUse" in block:
            use = block["toolUse"]
            start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
            # Streamed tool input is a JSON string, possibly split over several deltas.
            delta = {"toolUse": {"input": json.dumps(use.get("input") or {})}}
        else:
            start, delta = {}, {"text": block.get("text", "")}
        events.append({"contentBlockStart": {"contentBlockIndex": index, "start": start}})
        events.append({"contentBlockDelta": {"contentBlockIndex": index, "delta": delta}})
        events.append({"contentBlockStop": {"contentBlockIndex": index}})
    events.append({"messageStop": {"stopReason": response["stopReason"]}})
    events.append({"metadata": {"usage": response["usage"], "metrics": response["metrics"]}})
    return events
