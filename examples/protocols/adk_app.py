"""A google-adk agent served by ADK's own FastAPI app (get_fast_api_app), on a stub BaseLlm.

    uvicorn examples.protocols.adk_app:app --port 8000          # app name "echo"
    uvicorn examples.protocols.adk_app:wedged_app --port 8000   # duplicates park threads
    uvicorn examples.protocols.adk_app:failing_app --port 8000  # the model call raises

A session is created first (POST /apps/echo/users/{user}/sessions), then POST /run or /run_sse.
The stub model answers the last user message; in `wedged_app` it deduplicates identical
prompts by parking a worker thread on an Event (stub_model.Dedup).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import FastAPI
from google.adk.agents import LlmAgent
from google.adk.cli.fast_api import get_fast_api_app
from google.adk.cli.utils.base_agent_loader import BaseAgentLoader
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.genai import types

from examples.protocols.stub_model import BrokenTool, Dedup, answer

APP_NAME = "echo"


class StubLlm(BaseLlm):
    mode: str = "ok"
    dedup: Any = None

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        prompt = ""
        for content in llm_request.contents:
            if content.role == "user":
                prompt = "".join(part.text or "" for part in content.parts or [])
        if self.mode == "failing":
            raise BrokenTool("the model backend is down")
        text = await (self.dedup.run(prompt) if self.mode == "wedged" else answer(prompt))
        yield LlmResponse(content=types.Content(role="model", parts=[types.Part(text=text)]))


class OneAgent(BaseAgentLoader):
    def __init__(self, mode: str) -> None:
        model = StubLlm(model="stub", mode=mode, dedup=Dedup(park_threads=True))
        self.agent = LlmAgent(name=APP_NAME, model=model, instruction="Echo the user.")

    def load_agent(self, agent_name: str) -> LlmAgent:
        if agent_name != APP_NAME:
            raise ValueError(f"no agent {agent_name!r}")
        return self.agent

    def list_agents(self) -> list[str]:
        return [APP_NAME]


# ADK wants an agents folder (the loader serves the agent; ADK keeps its session.db there), one
# per process. Removed when the server shuts down: uvicorn exits by its signal, so no atexit.
AGENTS_DIR = tempfile.mkdtemp(prefix="adk-agents-")


def create_app(mode: str = "ok") -> FastAPI:
    app = get_fast_api_app(agents_dir=AGENTS_DIR, agent_loader=OneAgent(mode), web=False)
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        try:
            async with inner(app) as state:
                yield state
        finally:
            shutil.rmtree(AGENTS_DIR, ignore_errors=True)

    app.router.lifespan_context = lifespan
    return app


app = create_app()
wedged_app = create_app("wedged")
failing_app = create_app("failing")
