"""A healthy server that only *logs* words that look like an asyncio hazard report.

    uvicorn examples.chatty_logs:app --port 8000

Its job runner logs "Task was destroyed" and "Task exception was never retrieved" in ordinary
log lines about its own jobs. Nothing is wrong with the event loop.
"""

from __future__ import annotations

import logging
import sys

from fastapi import FastAPI
from pydantic import BaseModel

logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
log = logging.getLogger("jobs")


class Prompt(BaseModel):
    prompt: str


def create_app() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/agents/{agent}/invocations")
    async def invoke(agent: str, body: Prompt) -> dict[str, str]:
        log.info("Task was destroyed: job for %s cleaned up after its run", agent)
        log.warning("Task exception was never retrieved by the old runner; now it always is")
        return {"agent": agent, "text": body.prompt}

    return app


app = create_app()
