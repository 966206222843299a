"""An AG-UI server: pydantic-ai's AGUIAdapter in a Starlette route, with a stub model.

    uvicorn examples.protocols.ag_ui_app:app --port 8000          # AG-UI run at POST /
    uvicorn examples.protocols.ag_ui_app:wedged_app --port 8000   # duplicates park threads
    uvicorn examples.protocols.ag_ui_app:failing_app --port 8000  # the tool raises

Each POST is one run; its SSE stream ends with RUN_FINISHED, or RUN_ERROR when the run failed.
"""

from __future__ import annotations

from pydantic_ai.ui.ag_ui import AGUIAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from examples.protocols.pydantic_ai_agent import create_agent


def create_app(mode: str = "ok") -> Starlette:
    agent = create_agent(mode)

    async def run(request: Request) -> Response:
        return await AGUIAdapter.dispatch_request(request, agent=agent)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/", run, methods=["POST"]), Route("/healthz", healthz)])


app = create_app()
wedged_app = create_app("wedged")
failing_app = create_app("failing")
