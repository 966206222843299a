"""Control endpoints for the harness: change the system under test while a storm runs.

`PUT /v1/control/model {"latency_factor": F}` multiplies the stub model's latency (the phased
storm's slow-model trigger: a capacity drop without restarting anything). Only loopback
callers may use it: anyone else gets 403, whatever address the server listens on.
"""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from stampede.server.api_models import error_responses
from stampede.server.model import StubBedrockModel


class ModelControl(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # strict: `true` is not 1.0 (JSON numbers, ints included, are what the schema says)
    latency_factor: float = Field(ge=0.01, le=1000, strict=True)


class ModelState(BaseModel):
    latency_factor: float
    latency_ms: float


def is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def control_router(model: StubBedrockModel) -> APIRouter:
    router = APIRouter()

    @router.put(
        "/v1/control/model",
        response_model=ModelState,
        responses=error_responses(400, 403, 413, 422),  # 400: a body that is not JSON (app.py)
    )
    async def control_model(body: ModelControl, request: Request) -> JSONResponse:
        host = request.client.host if request.client else None
        if not is_loopback(host):
            message = f"control endpoints answer loopback callers only, not {host}"
            return JSONResponse({"error": "forbidden", "message": message}, status_code=403)
        model.latency_factor = body.latency_factor
        return JSONResponse(
            {"latency_factor": model.latency_factor, "latency_ms": model.latency_ms}
        )

    return router
