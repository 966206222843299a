"""A minimal agent loop over the stub model, shaped like Strands' event loop.

Each cycle makes one blocking model call with `asyncio.to_thread` on the loop's default
executor, as Strands' BedrockModel does; a tool-use answer runs the tool on the loop and feeds
its result back. With two or more cycles a primary needs a *second* worker after waiters that
arrived during its first call have had their chance to take every worker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stampede.probe.executor import tagged
from stampede.server.model import StubBedrockModel

TOOLS = ["lookup_weather"]


@dataclass(frozen=True)
class AgentResult:
    text: str
    model_calls: int
    usage: dict[str, int]


async def run_tool(name: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(0)
    return {"status": "success", "content": [{"text": f"{name}: sunny, 21C"}]}


async def run_agent(
    model: StubBedrockModel,
    prompt: str,
    *,
    owner: str,
    on_model_call: Callable[[float], None] | None = None,
) -> AgentResult:
    messages: list[dict[str, Any]] = [{"role": "user", "content": [{"text": prompt}]}]
    calls = 0
    usage = {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}
    while True:
        with tagged("model", owner):
            response = await asyncio.to_thread(_timed_converse, model, messages, on_model_call)
        calls += 1
        for name in usage:
            usage[name] += response["usage"][name]
        message = response["output"]["message"]
        messages.append(message)
        if response["stopReason"] != "tool_use":
            text = "".join(block.get("text", "") for block in message["content"])
            return AgentResult(text=text, model_calls=calls, usage=usage)
        results = []
        for block in message["content"]:
            use = block.get("toolUse")
            if use:
                result = await run_tool(use["name"], use["input"])
                results.append({"toolResult": {"toolUseId": use["toolUseId"], **result}})
        messages.append({"role": "user", "content": results})


def _timed_converse(
    model: StubBedrockModel,
    messages: list[dict[str, Any]],
    on_model_call: Callable[[float], None] | None,
) -> dict[str, Any]:
    # Timed inside the worker so queueing for a worker is not counted as model latency; a
    # call that throws (ThrottlingException) counts too: it held the worker as long.
    started = time.perf_counter()
    try:
        return model.converse(messages, TOOLS)
    finally:
        if on_model_call is not None:
            on_model_call(time.perf_counter() - started)
