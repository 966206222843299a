"""The success rule: when an answer counts as the protocol's success, not just as a 2xx.

A JSON-RPC server answers a failed call with 200 and an `error` member; an SSE stream fails
with a RUN_ERROR event after a 200 head. The workload's `[invoke.success]` parses into a
SuccessRule and `judge` applies it to one answer. Pure (no Locust), so it is unit-tested alone.
Failure kinds are constant strings: Locust groups failures by message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

SAMPLE_CHARS = 160
_MISSING = object()


@dataclass(frozen=True)
class JsonCheck:
    path: str  # dotted path into the JSON body, e.g. "result.status.state"; list index "items.0"
    op: Literal["present", "absent", "equals", "one_of"]
    value: Any = None  # equals: the value; one_of: a tuple of values


@dataclass(frozen=True)
class SuccessRule:
    statuses: tuple[int, ...] = ()  # allowed statuses; () means any 2xx
    json: tuple[JsonCheck, ...] = ()  # all must hold (a body that is not JSON fails them)
    sse_done: tuple[str, ...] = ()  # SSE event names (or data `type`s) ending a good stream
    sse_failed: tuple[str, ...] = ()  # ... that mark a failed one (e.g. "RUN_ERROR")
    jsonrpc_error_fails: bool = True  # a JSON-RPC `error` member is a failure


@dataclass(frozen=True)
class Judgement:
    ok: bool
    kind: str  # "ok" or a constant failure kind
    sample: str = ""  # <= 160 chars of the body or exception, for the report


def lookup(document: Any, path: str) -> Any:
    """The value at a dotted path, or _MISSING; list items by index ("items.0")."""
    value = document
    for part in path.split(".") if path else []:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif (
            isinstance(value, list)
            and part.lstrip("-").isdigit()
            and -len(value) <= int(part) < len(value)
        ):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def found(document: Any, path: str) -> bool:
    return lookup(document, path) is not _MISSING


def holds(check: JsonCheck, document: Any) -> bool:
    value = lookup(document, check.path)
    if check.op == "present":
        return value is not _MISSING
    if check.op == "absent":
        return value is _MISSING
    if check.op == "equals":
        return value is not _MISSING and value == check.value
    return value is not _MISSING and value in tuple(check.value or ())


def sse_events(body: bytes) -> list[tuple[str, str]]:
    """(event name, data) per SSE event; the name is "message" when the event names none."""
    events: list[tuple[str, str]] = []
    text = body.decode(errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    for block in text.split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith(":") or not line:
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if data or name != "message":
            events.append((name, "\n".join(data)))
    return events


def _json(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return _MISSING


def _sample(body: bytes) -> str:
    return body[:SAMPLE_CHARS].decode(errors="replace")


def judge(
    rule: SuccessRule, status: int, body: bytes, content_type: str, complete: bool
) -> Judgement:
    """Whether one answer is the protocol's success, and if not, which kind of failure."""
    allowed = status in rule.statuses if rule.statuses else 200 <= status < 300
    if not allowed:
        return Judgement(False, f"http_{status}", _sample(body))
    if not complete:
        return Judgement(False, "incomplete_body", _sample(body))
    if "text/event-stream" in content_type.lower():
        return _judge_sse(rule, body)
    document = _json(body) if body.strip() else _MISSING
    return _judge_document(rule, document, body)


def _judge_document(rule: SuccessRule, document: Any, body: bytes) -> Judgement:
    if (
        rule.jsonrpc_error_fails
        and isinstance(document, dict)
        and "error" in document
        and ("jsonrpc" in document)
    ):
        return Judgement(False, "jsonrpc_error", _sample(body))
    if rule.json and (document is _MISSING or not all(holds(c, document) for c in rule.json)):
        return Judgement(False, "json_check", _sample(body))
    return Judgement(True, "ok")


def _judge_sse(rule: SuccessRule, body: bytes) -> Judgement:
    """Read to the terminal event: the first done/failed one wins; the JSON checks and the
    JSON-RPC error check apply to the last event whose data is JSON (an MCP answer)."""
    last: Any = _MISSING
    ended = False
    for name, data in sse_events(body):
        document = _json(data) if data else _MISSING
        kind = document.get("type") if isinstance(document, dict) else None
        if document is not _MISSING:
            last = document
        if name in rule.sse_failed or kind in rule.sse_failed:
            return Judgement(False, "sse_failed", data[:SAMPLE_CHARS])
        if name in rule.sse_done or kind in rule.sse_done:
            ended = True
            break
    if rule.sse_done and not ended:
        return Judgement(False, "sse_unterminated", _sample(body[-SAMPLE_CHARS:]))
    return _judge_document(rule, last, body)
