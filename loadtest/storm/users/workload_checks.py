"""The workload file's checks: each key's value, the placeholders, and the line a key is on.

Split from workload.py so the file's shape (the dataclasses) reads on its own. Every problem is
one WorkloadError line naming the file, the key (`setup[1].capture`) and its line.
"""

from __future__ import annotations

import re
from typing import Any

from stampede.loadtest.storm.users.placeholders import BUILTINS, PER_ATTEMPT, names_in
from stampede.loadtest.storm.users.success import JsonCheck, SuccessRule

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
RESPONSES = ("json", "sse")
SCOPES = ("user", "intent", "attempt")
HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CAPTURE = re.compile(r"^(header|json)(\?)?:(.+)$")
SUCCESS_KEYS = {
    "statuses", "present", "absent", "equals", "one_of", "sse_done", "sse_failed",
    "jsonrpc_error_fails",
}  # fmt: skip


class WorkloadError(ValueError):
    """A bad workload file; the message names the file, the key and its line."""


def check(section: str, key: str, value: Any) -> str | None:
    if section == "gates":
        ok = isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)
        return None if ok else f'must be a list of gates like "wedged", got {value!r}'
    if section == "statuses":
        ok = _statuses(value)
        return None if ok else f"must be a list of HTTP statuses 300..599, got {value!r}"
    if key in ("body", "initialize"):
        ok = value is None or isinstance(value, dict | list | str)  # None: JSON's "no body"
        return None if ok else "must be a table or a string"
    if key == "headers":
        return _headers(value)
    if key == "capture":
        return _captures(value)
    if key == "success":
        return _success(value)
    if key == "interval_s":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and 0.01 <= value <= 60
        return None if ok else f"must be seconds 0.01..60, got {value!r}"
    if key in ("done", "failed"):
        ok = isinstance(value, list) and all(isinstance(v, str | int | bool) for v in value)
        return None if ok else f"must be a list of values, got {value!r}"
    if not isinstance(value, str):
        return f"must be a string, got {value!r}"
    if key == "path" and not value.startswith("/"):
        return f"must start with '/', got {value!r}"
    if key == "method" and value.upper() not in METHODS:
        return f"must be one of {', '.join(METHODS)}, got {value!r}"
    if key == "idempotency_header" and value and not HEADER.match(value):
        return f"is not an HTTP header name: {value!r}"
    if key == "response" and value not in RESPONSES:
        return f"must be one of {', '.join(RESPONSES)}, got {value!r}"
    if key == "scope" and value not in SCOPES:
        return f"must be one of {', '.join(SCOPES)}, got {value!r}"
    if key in ("until", "name") and not value.strip():
        return "must not be empty"
    return None


def _statuses(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) and 300 <= v <= 599 for v in value
    )


def _headers(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "must be a table of header = value"
    for name, text in value.items():
        if not HEADER.match(name):
            return f"is not an HTTP header name: {name!r}"
        if not isinstance(text, str) or "\n" in text or "\r" in text:
            return f"{name}: must be a one-line string, got {text!r}"
    return None


def _captures(value: Any) -> str | None:
    if not isinstance(value, dict):
        return 'must be a table like { session = "header:Mcp-Session-Id" }'
    for name, source in value.items():
        if not IDENTIFIER.match(name) or name in BUILTINS:
            return f"{name!r} cannot be a capture name (a built-in placeholder or not a name)"
        if not isinstance(source, str) or not CAPTURE.match(source):
            return f'{name}: must be "header:NAME" or "json:PATH" (? after it: optional)'
    return None


def _success(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "must be a table"
    for key, item in value.items():
        if key not in SUCCESS_KEYS:
            return f"{key}: unknown key (known: {', '.join(sorted(SUCCESS_KEYS))})"
        if key == "statuses" and not (
            isinstance(item, list) and all(isinstance(v, int) and 100 <= v <= 599 for v in item)
        ):
            return f"statuses: must be a list of HTTP statuses, got {item!r}"
        if key in ("present", "absent", "sse_done", "sse_failed") and not (
            isinstance(item, list) and all(isinstance(v, str) and v for v in item)
        ):
            return f"{key}: must be a list of strings, got {item!r}"
        if key in ("equals", "one_of") and not isinstance(item, dict):
            return f'{key}: must be a table of "json.path" = value'
        if key == "one_of" and not all(isinstance(v, list) for v in item.values()):
            return "one_of: each path takes a list of values"
        if key == "jsonrpc_error_fails" and not isinstance(item, bool):
            return "jsonrpc_error_fails: must be true or false"
    return None


def success_rule(table: dict[str, Any]) -> SuccessRule:
    """A checked `[invoke.success]` table as the SuccessRule users/success.py judges by."""
    json_checks = [JsonCheck(path, "present") for path in table.get("present", ())]
    json_checks += [JsonCheck(path, "absent") for path in table.get("absent", ())]
    json_checks += [JsonCheck(p, "equals", v) for p, v in table.get("equals", {}).items()]
    json_checks += [JsonCheck(p, "one_of", tuple(v)) for p, v in table.get("one_of", {}).items()]
    return SuccessRule(
        statuses=tuple(table.get("statuses", ())),
        json=tuple(json_checks),
        sse_done=tuple(table.get("sse_done", ())),
        sse_failed=tuple(table.get("sse_failed", ())),
        jsonrpc_error_fails=bool(table.get("jsonrpc_error_fails", True)),
    )


def check_placeholders(workload: Any, where: str, text: str) -> None:
    # workload: a Workload (workload.py, which imports this module: no import back)
    """Every placeholder names something known where it is used: setup steps in order (a
    user-scoped step has no intent), then invoke, then poll (which sees invoke's captures)."""
    user = set(PER_ATTEMPT)
    intent = set(BUILTINS)
    for index, step in enumerate(workload.setup):
        known = user if step.scope == "user" else intent
        _known(f"setup[{index}]", step, known, where, text)
        user |= set(step.capture) if step.scope == "user" else set()
        intent |= set(step.capture)
    _known("invoke", workload.invoke, intent, where, text)
    if workload.poll is not None:
        _known("poll", workload.poll, intent | set(workload.invoke.capture), where, text)
    _known("stream", workload.stream, intent, where, text)
    _known("session", workload.session, {"agent"}, where, text)


def _known(section: str, request: Any, known: set[str], where: str, text: str) -> None:
    for key in ("path", "headers", "body", "initialize"):
        unknown = sorted(names_in(getattr(request, key, None)) - known)
        if unknown:
            listed = ", ".join(f"{{{name}}}" for name in sorted(known))
            problem = f"uses an unknown placeholder {{{unknown[0]}}} (known here: {listed})"
            raise error(where, text, section, key, problem)


def error(where: str, text: str, section: str, key: str | None, problem: str) -> WorkloadError:
    name = f"{section}.{key}" if key else section
    line = line_of(text, section, key)
    at = f" (line {line})" if line else ""
    return WorkloadError(f"{where}: {name}{at} {problem}")


def line_of(text: str, section: str, key: str | None) -> int | None:
    """Where `section.key` is written: under its [section] (or the n-th [[setup]]) header, as a
    dotted key, or as a sub-table [section.key]."""
    table, _, index = section.partition("[")
    wanted_index = int(index.rstrip("]")) if index else None
    current, seen = "", -1
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        header = re.match(r"^\[\[?\s*([\w.-]+)\s*\]\]?", line)
        if header:
            current = header.group(1)
            if line.startswith("[[") and current == table:
                seen += 1
            here = wanted_index is None or seen == wanted_index
            if here and key is None and current == table:
                return number
            if here and key is not None and current == f"{table}.{key}":
                return number
            continue
        assigned = re.match(r"^([\w.\"-]+)\s*=", line)
        if not assigned or (wanted_index is not None and seen != wanted_index):
            continue
        name = assigned.group(1).replace('"', "")
        full = f"{current}.{name}" if current else name
        wanted = f"{table}.{key}" if key else table
        if full == wanted or (key is None and full.startswith(f"{table}.")):
            return number
    return None
