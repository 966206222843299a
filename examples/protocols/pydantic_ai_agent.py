"""The pydantic-ai agent both pydantic-ai examples serve: a stub model (TestModel) and one
tool, `look_up`, that answers the user's prompt through the stub model; TestModel calls it,
then answers with the tool's result.

mode "wedged": the tool deduplicates identical prompts by parking a worker thread on an Event
(stub_model.Dedup); mode "failing": the tool raises.
"""

from __future__ import annotations

from pydantic_ai import Agent, RunContext
from pydantic_ai.models.test import TestModel

from examples.protocols.stub_model import BrokenTool, Dedup, answer


def create_agent(mode: str = "ok") -> Agent[None, str]:
    agent: Agent[None, str] = Agent(TestModel(), name="echo-agent")
    dedup = Dedup(park_threads=True)

    @agent.tool
    async def look_up(ctx: RunContext[None]) -> str:
        """Answer the user's prompt."""
        prompt = ctx.prompt if isinstance(ctx.prompt, str) else str(ctx.prompt)
        if mode == "failing":
            raise BrokenTool("the model backend is down")
        if mode == "wedged":
            return await dedup.run(prompt)
        return await answer(prompt)

    return agent
