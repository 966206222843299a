"""A chat endpoint whose agent keeps the conversation: one agent for all, or one per session.

    uvicorn examples.shared_agent_app:app --port 8000        # one module-level agent
    uvicorn examples.shared_agent_app:fixed_app --port 8000  # an agent per session

`POST /v1/agents/{agent}/chat` with `{"session": S, "prompt": P}` runs one turn: the agent
appends the prompt to its messages, calls the model (an await), appends the answer, and returns
its turn count and history length. `app` shares one agent between every request, as a
module-level `Agent()` does (strands-agents #1176): overlapping turns interleave their messages,
one fails (the model refuses a history ending in an answer), others return histories that no
longer match their turns, and the history stays broken for every later turn. `fixed_app` keeps
an agent per session.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

MODEL_S = 0.05


class Turn(BaseModel):
    session: str
    prompt: str


class Agent:
    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []
        self.turns = 0

    async def __call__(self, prompt: str) -> dict[str, object]:
        self.messages.append({"role": "user", "content": prompt})
        await asyncio.sleep(MODEL_S)  # the model call
        if self.messages[-1]["role"] != "user":
            raise ValueError("conversation must end with a user message")
        self.messages.append({"role": "assistant", "content": f"echo: {prompt}"})
        self.turns += 1
        return {"answer": f"echo: {prompt}", "turns": self.turns, "history": len(self.messages)}


def create_app(per_session: bool) -> FastAPI:
    app = FastAPI()
    shared = Agent()
    sessions: dict[str, Agent] = {}

    @app.post("/v1/agents/{agent}/chat")
    async def chat(agent: str, turn: Turn) -> JSONResponse:
        who = sessions.setdefault(turn.session, Agent()) if per_session else shared
        try:
            return JSONResponse(await who(turn.prompt))
        except ValueError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=500)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


app = create_app(per_session=False)
fixed_app = create_app(per_session=True)
