"""When an attempt counts as a success: the whole answer arrived, and it says what was asked.

A status code alone is not an answer: a server can send 200 headers at once and the body late
(or never), or answer 200 with a JSON-RPC `error` member. `judge` looks at what the client
actually read: the status, whether the body was read to its end within the client timeout
(`complete`), the JSON checks a workload states, and for an SSE stream its terminal event.

Pure and Locust-free (the workload parser builds a SuccessRule from `[invoke.success]`); the
Locust users call it once per attempt. Failure kinds are constants, so Locust's failure table
gets one row per kind and status, and `sample` (at most 160 characters of the body or the
exception) is what the report quotes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from stampede.loadtest.storm.users.json_path import MISSING as _MISSING
from stampede.loadtest.storm.users.json_path import lookup

SAMPLE_CHARS = 160


@dataclass(frozen=True)
class JsonCheck:
    path: str  # dotted path into the JSON body, e.g. "result.status.state"; list index "items.0"
    op: Literal["present", "absent", "equals", "one_of"]
    value: Any = None  # equals: the value; one_of: a tuple of values


@dataclass(frozen=True)
class SuccessRule:
    statuses: tuple[int, ...] = ()  # allowed statuses; () means any 2xx
    json: tuple[JsonCheck, ...] = ()  # all must hold (a body that is not JSON fails them)
    sse_done: tuple[str, ...] = ()  # SSE event names (or `type` values) ending a good stream
    sse_failed: tuple[str, ...] = ()  # ... that mark a failed one (e.g. "RUN_ERROR")
    jsonrpc_error_fails: bool = True  # a JSON-RPC `error` member is a failure


@dataclass(frozen=True)
class Judgement:
    ok: bool
    kind: str  # "ok" or a constant failure kind
    sample: str = ""  # <= 160 chars of the body or exception, for the report


OK = Judgement(True, "ok")


def sample_of(data: bytes | str) -> str:
    """One line of at most SAMPLE_CHARS characters, for a report cell."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else str(data)
    text = " ".join(text.split())
    return text if len(text) <= SAMPLE_CHARS else text[: SAMPLE_CHARS - 3] + "..."


def judge(
    rule: SuccessRule, status: int, body: bytes, content_type: str, complete: bool
) -> Judgement:
    """The verdict on one attempt's answer. Order: status, completeness, then content."""
    allowed = status in rule.statuses if rule.statuses else 200 <= status < 300
    if not allowed:
        return Judgement(False, f"http_{status}", sample_of(body))
    is_sse = "text/event-stream" in (content_type or "").lower()
    if not complete:
        # Headers came, the whole body did not (within the client timeout).
        got = f"{len(body)} byte(s) of the body before the client timeout"
        return Judgement(False, "incomplete_body", sample_of(body) or got)
    if is_sse:
        return _judge_sse(rule, body)
    if not rule.json and not rule.jsonrpc_error_fails:
        return OK
    parsed = _json(body)
    if parsed is _MISSING:
        if rule.json:
            return Judgement(False, "json_check", "not JSON: " + sample_of(body))
        return OK
    return _judge_json(rule, parsed, body)


def _judge_json(rule: SuccessRule, parsed: Any, body: bytes) -> Judgement:
    if rule.jsonrpc_error_fails and _is_jsonrpc_error(parsed):
        return Judgement(False, "jsonrpc_error", sample_of(json.dumps(parsed.get("error"))))
    for check in rule.json:
        if not holds(check, parsed):
            text = body.decode("utf-8", errors="replace")
            return Judgement(False, "json_check", sample_of(f"{_describe(check)}: {text}"))
    return OK


def _judge_sse(rule: SuccessRule, body: bytes) -> Judgement:
    """Read to the terminal event: the first done/failed one wins. The JSON checks and the
    JSON-RPC error check apply to the last event whose data is JSON (an MCP answer over SSE)."""
    last: Any = _MISSING
    ended = False
    for name, data in sse_events(body):
        parsed = _json(data.encode())
        names = {name}
        if isinstance(parsed, dict) and isinstance(parsed.get("type"), str):
            names.add(parsed["type"])
        if parsed is not _MISSING:
            last = parsed
        if rule.sse_failed and names & set(rule.sse_failed):
            return Judgement(False, "sse_failed", sample_of(data or name))
        if rule.sse_done and names & set(rule.sse_done):
            ended = True
            break
    if rule.sse_done and not ended:
        # The stream ended (complete) but never said it succeeded.
        return Judgement(False, "sse_unterminated", sample_of(body) or "empty stream")
    if last is _MISSING:
        if rule.json:
            return Judgement(False, "json_check", "no JSON event: " + sample_of(body))
        return OK
    return _judge_json(rule, last, json.dumps(last).encode())


def sse_events(body: bytes) -> list[tuple[str, str]]:
    """(event name, data) per SSE event; an event without a name is "message"."""
    text = body.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for block in text.split("\n\n"):
        name, data, seen = "message", [], False
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name, seen = value, True
            elif field == "data":
                data.append(value)
                seen = True
        if seen:
            out.append((name, "\n".join(data)))
    return out


def holds(check: JsonCheck, parsed: Any) -> bool:
    found = lookup(parsed, check.path)
    if check.op == "present":
        return found is not _MISSING
    if check.op == "absent":
        return found is _MISSING
    if check.op == "equals":
        return found is not _MISSING and found == check.value
    if check.op == "one_of":
        return found is not _MISSING and found in tuple(check.value or ())
    raise ValueError(f"unknown JSON check op {check.op!r}")


def _is_jsonrpc_error(parsed: Any) -> bool:
    return isinstance(parsed, dict) and "jsonrpc" in parsed and parsed.get("error") is not None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _MISSING


def _describe(check: JsonCheck) -> str:
    if check.op in ("present", "absent"):
        return f"{check.path} {check.op}"
    return f"{check.path} {check.op} {check.value!r}"


def failure_message(judgement: Judgement, status: int) -> str:
    """The constant message Locust groups by (no body in it: one row per kind and status)."""
    if judgement.kind.startswith("http_"):
        return f"unexpected HTTP {status}"
    return {
        "incomplete_body": "body not complete within the client timeout",
        "jsonrpc_error": f"HTTP {status} with a JSON-RPC error",
        "json_check": f"HTTP {status} failed the workload's JSON check",
        "sse_failed": f"HTTP {status} stream sent a failure event",
        "sse_unterminated": f"HTTP {status} stream ended without its terminal event",
    }.get(judgement.kind, judgement.kind)
