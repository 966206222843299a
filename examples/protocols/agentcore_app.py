"""A Bedrock AgentCore runtime app (bedrock-agentcore's BedrockAgentCoreApp) on a stub model.

    uvicorn examples.protocols.agentcore_app:app --port 8000          # POST /invocations, GET /ping
    uvicorn examples.protocols.agentcore_app:wedged_app --port 8000   # duplicates park threads
    uvicorn examples.protocols.agentcore_app:failing_app --port 8000  # the handler raises

The session travels in X-Amzn-Bedrock-AgentCore-Runtime-Session-Id; retries of one request
share it, and `wedged_app` deduplicates identical prompts by parking a worker thread on an
Event (stub_model.Dedup).
"""

from __future__ import annotations

from typing import Any

from bedrock_agentcore.runtime import BedrockAgentCoreApp

from examples.protocols.stub_model import BrokenTool, Dedup, answer


def create_app(mode: str = "ok") -> BedrockAgentCoreApp:
    app = BedrockAgentCoreApp()
    dedup = Dedup(park_threads=True)

    @app.entrypoint
    async def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        prompt = str(payload.get("prompt", ""))
        if mode == "failing":
            raise BrokenTool("the model backend is down")
        text = await (dedup.run(prompt) if mode == "wedged" else answer(prompt))
        return {"result": text}

    return app


app = create_app()
wedged_app = create_app("wedged")
failing_app = create_app("failing")
