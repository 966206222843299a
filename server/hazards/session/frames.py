"""One WebSocket frame in, JSON-RPC 2.0 requests and error replies out, whatever the frame holds.

No frame may break the connection or reach the agent malformed: a frame over the size cap,
invalid UTF-8 or invalid JSON is a -32700 parse error; JSON nested deeper than MAX_DEPTH (even
past the parser's recursion limit), a non-object, an empty or oversized batch, or an object
that is not a request is a -32600 invalid request. A batch (an array) is split into its
requests plus one error per bad entry, answered together as one array (JSON-RPC 2.0 §6).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

JsonObject = dict[str, Any]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
LIMIT_EXCEEDED = -32000  # implementation-defined server error: a per-connection limit

MAX_DEPTH = 32  # nesting levels of one frame, the batch array included
MAX_BATCH = 64  # requests in one batch


@dataclass(frozen=True)
class TooLarge:
    """Stands in for a frame over the cap, so the oversized text is never queued."""

    size: int


@dataclass
class Parsed:
    """What one frame asks for: requests to run and the errors already known."""

    batch: bool = False
    requests: list[JsonObject] = field(default_factory=list)
    errors: list[JsonObject] = field(default_factory=list)


def error(request_id: object, code: int, message: str) -> JsonObject:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def is_notification(request: JsonObject) -> bool:
    """A request without an id gets no reply (JSON-RPC 2.0 §4.1)."""
    return "id" not in request


def parse(frame: str | bytes | TooLarge, max_bytes: int) -> Parsed:
    if isinstance(frame, TooLarge):
        return _fail(PARSE_ERROR, f"frame of {frame.size} bytes is over the {max_bytes}-byte cap")
    if isinstance(frame, bytes):
        try:
            frame = frame.decode("utf-8")
        except UnicodeDecodeError:
            return _fail(PARSE_ERROR, "binary frame is not UTF-8 JSON")
    try:
        message = json.loads(frame)
    except RecursionError:  # deeper than the parser goes: over MAX_DEPTH in any case
        return _fail(INVALID_REQUEST, f"frame is nested deeper than {MAX_DEPTH} levels")
    except ValueError:
        return _fail(PARSE_ERROR, "frame is not valid JSON")
    if not _depth_within(message, MAX_DEPTH):
        return _fail(INVALID_REQUEST, f"frame is nested deeper than {MAX_DEPTH} levels")
    if not isinstance(message, list):
        return _one(message)
    if not message:
        return _fail(INVALID_REQUEST, "an empty batch is not a request")
    if len(message) > MAX_BATCH:
        return _fail(INVALID_REQUEST, f"a batch holds at most {MAX_BATCH} requests")
    parsed = Parsed(batch=True)
    for entry in message:
        one = _one(entry)
        parsed.requests += one.requests
        parsed.errors += one.errors
    return parsed


def _fail(code: int, message: str) -> Parsed:
    return Parsed(errors=[error(None, code, message)])


def _one(message: object) -> Parsed:
    problem = _check_request(message)
    if problem is None:
        assert isinstance(message, dict)
        return Parsed(requests=[message])
    request_id = message.get("id") if isinstance(message, dict) else None
    return Parsed(errors=[error(request_id if _valid_id(request_id) else None, *problem)])


def _check_request(message: object) -> tuple[int, str] | None:
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return INVALID_REQUEST, 'a JSON-RPC 2.0 request is an object with "jsonrpc": "2.0"'
    if not isinstance(message.get("method"), str):
        return INVALID_REQUEST, 'a request needs a string "method"'
    if "id" in message and not _valid_id(message["id"]):
        return INVALID_REQUEST, '"id" must be a string, a number or null'
    if "params" in message and not isinstance(message["params"], dict | list):
        return INVALID_REQUEST, '"params" must be an object or an array'
    return None


def _valid_id(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, str | int)


def _depth_within(value: object, limit: int) -> bool:
    """Iterative, so checking a deep frame cannot itself recurse too deep."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True
