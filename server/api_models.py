"""What the HTTP API promises in its OpenAPI schema: bodies, error statuses, media types, headers.

The schema is a contract checked by schemathesis (`--checks all`, tests/server/test_openapi.py):
every status, content type and header constraint the server really has is declared here, and
nothing it does not have.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

AGENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
MAX_KEY = 255
# 1..255 printable ASCII; no space at either end, since HTTP strips it from header values.
KEY_PATTERN = r"^[!-~]([ -~]{0,253}[!-~])?$"
KEY_SCHEMA = {"minLength": 1, "maxLength": MAX_KEY, "pattern": KEY_PATTERN}


class InvokeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    prompt: str = Field(min_length=1, max_length=10_000)


class InvokeResponse(BaseModel):
    """A primary's answer; a duplicate gets the same body with role "duplicate", a retry
    answered from the replay store (--idempotency-mode replay) with role "replay"."""

    agent_id: str
    idempotency_key: str | None
    role: Literal["primary", "duplicate", "replay"]
    text: str
    model_calls: int
    started_at: str
    finished_at: str


class ErrorBody(BaseModel):
    """Every error: a machine-readable `error` and a sentence; some add `agent_id`."""

    model_config = ConfigDict(extra="allow")
    error: str
    message: str


ERRORS: dict[int, str] = {
    400: "malformed JSON body or bad Idempotency-Key",
    403: "control endpoints answer loopback callers only",
    409: "another invocation is in flight on this agent (a different key, or none)",
    413: "request body over --max-body-bytes",
    422: "the body, path or query fails validation, or a key is reused with another body",
    429: "the model throttled (--model-error-rate)",
    500: "the agent failed",
    503: "over --max-concurrency (Retry-After), no worker thread, or shutting down",
    504: "a duplicate waited longer than --duplicate-timeout-s",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    # Inline JSON: a `model` would take the route's media type (text/event-stream on a stream).
    content = {"application/json": {"schema": ErrorBody.model_json_schema()}}
    return {code: {"description": ERRORS[code], "content": content} for code in codes}


# One server-sent event, as OpenAPI 3.1 tools read a text/event-stream schema: `data` holds
# one JSON message of the stream (server/hazards/stream/query.py).
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "event", "data"],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$"},
        "event": {"enum": ["message", "result"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
}


def text_response(
    media_type: str, description: str, schema: dict[str, Any] | None = None, **headers: str
) -> dict[str, Any]:
    """A 200 that is not JSON (metrics text, an SSE stream), with its documented headers."""
    response: dict[str, Any] = {
        "description": description,
        "content": {media_type: {"schema": schema or {"type": "string"}}},
    }
    if headers:
        response["headers"] = {
            name: {"description": text, "schema": {"type": "integer", "minimum": 1}}
            for name, text in headers.items()
        }
    return response
