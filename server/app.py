"""The FastAPI app: invocations, status, health and metrics."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import FastAPI, Header, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from stampede.probe.loop_errors import CountAsgiErrors
from stampede.server.control import control_router
from stampede.server.runtime import Runtime
from stampede.server.settings import ServerSettings
from starlette.exceptions import HTTPException as StarletteHTTPException

AGENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
MAX_KEY = 255


class InvokeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    prompt: str = Field(min_length=1, max_length=10_000)


def bad_request(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": "bad_request", "message": message}, status_code=status)


def check_key(key: str | None) -> str | None:
    """The idempotency key rule: 1..255 printable ASCII characters."""
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY:
        return f"Idempotency-Key must be 1..{MAX_KEY} characters, got {len(key)}"
    if not all(" " <= ch <= "~" for ch in key):
        return "Idempotency-Key must be printable ASCII"
    return None


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or ServerSettings()
    runtime = Runtime(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title="Stampede agent server", lifespan=lifespan)
    app.state.runtime = runtime
    # Hazard errors raised out of a response's teardown count once, like loop reports.
    app.add_middleware(CountAsgiErrors, detector=runtime.detector)
    for hazard in runtime.hazards:
        app.include_router(hazard.router)
    app.include_router(control_router(runtime.model))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(err.get("type") == "json_invalid" for err in errors):
            return bad_request(400, "request body is not valid JSON")
        if any(tuple(err.get("loc", ())) == ("body",) for err in errors):
            return bad_request(422, 'request body must be a JSON object like {"prompt": "..."}')
        parts = []
        for err in errors:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where or 'body'}: {err.get('msg')}")
        return bad_request(422, "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = f"no route for {request.method} {request.url.path}"
        if exc.status_code not in (404, 405):
            message = str(exc.detail)
        return JSONResponse({"error": code, "message": message}, status_code=exc.status_code)

    @app.post("/v1/agents/{agent_id}/invocations")
    async def invoke(
        body: InvokeRequest,
        agent_id: Annotated[str, Path(pattern=AGENT_ID)],
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> JSONResponse:
        problem = check_key(idempotency_key)
        if problem:
            return bad_request(400, problem)
        outcome = await runtime.service.invoke(agent_id, idempotency_key, body.prompt)
        return JSONResponse(outcome.body, status_code=outcome.status)

    @app.get("/v1/status")
    async def status() -> dict[str, object]:
        return runtime.status()

    @app.get("/healthz")
    async def healthz() -> dict[str, object]:
        return {"status": "ok", "wedged": runtime.wedge.wedged}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(runtime.telemetry.registry), media_type=CONTENT_TYPE_LATEST)

    return app
