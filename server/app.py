"""The FastAPI app: invocations, status, health and metrics, behind the request limits.

Every error answers `{"error", "message"}`: validation, unknown routes, 405 (with the `Allow`
header RFC 9110 requires), and the limits' 413/503 (server/limits.py). What each route may
answer is declared in its OpenAPI entry (server/api_models.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import FastAPI, Header, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from stampede.probe.inflight import CountInFlight
from stampede.probe.loop_errors import CountAsgiErrors
from stampede.server.api_models import (
    AGENT_ID,
    KEY_SCHEMA,
    MAX_KEY,
    InvokeRequest,
    InvokeResponse,
    error_responses,
    text_response,
)
from stampede.server.control import control_router
from stampede.server.limits import BodyLimit, ConcurrencyLimit
from stampede.server.runtime import Runtime
from stampede.server.settings import ServerSettings
from starlette.exceptions import HTTPException as StarletteHTTPException

HTTP_ERRORS = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def bad_request(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": "bad_request", "message": message}, status_code=status)


def check_key(key: str | None) -> str | None:
    """The idempotency key rule: 1..255 printable ASCII characters."""
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY:
        return f"Idempotency-Key must be 1..{MAX_KEY} characters, got {len(key)}"
    if not (key.isascii() and key.isprintable()):  # ASCII printable: " " to "~"
        return "Idempotency-Key must be printable ASCII"
    if key.strip(" ") != key:
        return "Idempotency-Key must not start or end with a space"
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
    # HTTP requests in flight, as a probed app counts them (stampede/probe/inflight.py).
    app.add_middleware(CountInFlight, gauge=runtime.probe.http_in_flight)
    # Added last, so they run first: nothing below them sees a refused request.
    app.add_middleware(ConcurrencyLimit, limit=settings.max_concurrency, count=runtime.rejected)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, count=runtime.rejected)

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
        if exc.status_code == 400:  # FastAPI could not decode the body (bad UTF-8, too deep)
            return bad_request(400, "request body is not valid JSON")
        code = HTTP_ERRORS.get(exc.status_code, "http_error")
        message = f"no route for {request.method} {request.url.path}"
        if exc.status_code not in (404, 405):
            message = str(exc.detail)
        # The 405's Allow header (RFC 9110) rides on the exception.
        return JSONResponse(
            {"error": code, "message": message}, status_code=exc.status_code, headers=exc.headers
        )

    @app.post(
        "/v1/agents/{agent_id}/invocations",
        response_model=InvokeResponse,
        responses=error_responses(400, 409, 413, 422, 429, 500, 503, 504),
    )
    async def invoke(
        body: InvokeRequest,
        agent_id: Annotated[str, Path(pattern=AGENT_ID)],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                description=f"1..{MAX_KEY} printable ASCII characters; duplicates share it",
                json_schema_extra=KEY_SCHEMA,
            ),
        ] = None,
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

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: text_response("text/plain", "Prometheus text exposition format")},
    )
    async def metrics() -> Response:
        return Response(generate_latest(runtime.telemetry.registry), media_type=CONTENT_TYPE_LATEST)

    # After the app's own routes: routes match in order, and every invocation would otherwise
    # be tried against each hazard's routes first (their paths are all distinct).
    for hazard in runtime.hazards:
        app.include_router(hazard.router)
    app.include_router(control_router(runtime.model))
    return app
