"""Dotted paths into a JSON answer ("result.status.state", "items.0"), for captures and polls.

An SSE answer's JSON is the last event whose data parses as JSON (an MCP answer over SSE is one
`message` event holding the JSON-RPC response). Pure: no Locust.
"""

from __future__ import annotations

import json
from typing import Any

MISSING = object()


def lookup(document: Any, path: str) -> Any:
    value = document
    for part in path.split(".") if path else []:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and _index(part, len(value)) is not None:
            value = value[_index(part, len(value))]  # type: ignore[index]
        else:
            return MISSING
    return value


def _index(part: str, length: int) -> int | None:
    try:
        index = int(part)
    except ValueError:
        return None
    return index if -length <= index < length else None


def document_of(body: bytes, content_type: str) -> Any:
    """The answer's JSON: the body, or an SSE stream's last JSON data; MISSING if none."""
    if "text/event-stream" in content_type.lower():
        found = MISSING
        text = body.decode(errors="replace").replace("\r\n", "\n")
        for block in text.split("\n\n"):
            data = "\n".join(
                line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:")
            )
            parsed = _parse(data) if data else MISSING
            if parsed is not MISSING:
                found = parsed
        return found
    return _parse(body) if body.strip() else MISSING


def _parse(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return MISSING
