"""How the storm talks to someone else's API: a small TOML file, defaults = the built-in server.

    [invoke]                    # the idempotency storm
    method = "POST"
    path = "/v1/agents/{agent}/invocations"
    body = { prompt = "{prompt}" }          # any JSON; "{prompt}" in any string is replaced
    idempotency_header = "Idempotency-Key"

    [statuses]                  # what the answers mean (all other non-2xx: http_error)
    conflict = [409]
    throttled = [429]
    aborted = [503]
    duplicate_timeout = [504]

    [stream]                    # an SSE GET that clients leave early
    path = "/v1/agents/{agent}/stream"

    [session]                   # a WebSocket JSON-RPC initialize, then close
    path = "/v1/agents/{agent}/session"
    initialize = { jsonrpc = "2.0", id = 1, method = "initialize", params = {} }

    [gates]                     # CI gates, added to --fail-on (loadtest/verdict/gates.py)
    fail_on = ["wedged", "goodput_ratio<0.9"]

`load_workload` parses it with the standard library's tomllib and checks it before anything
starts; a bad file is one `WorkloadError` naming the key and its line. The checked workload
reaches every Locust process (workers too) as JSON in the `--workload` custom argument. This
module imports no Locust, so the harness can check a file without loading Locust's gevent.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")
DEFAULT_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": 1},
}  # the built-in server's (and ACP's) initialize


class WorkloadError(ValueError):
    """A bad workload file; the message names the file, the key and its line."""


@dataclass(frozen=True)
class Invoke:
    method: str = "POST"
    path: str = "/v1/agents/{agent}/invocations"
    body: Any = field(default_factory=lambda: {"prompt": "{prompt}"})
    idempotency_header: str = "Idempotency-Key"


@dataclass(frozen=True)
class Statuses:
    conflict: tuple[int, ...] = (409,)
    throttled: tuple[int, ...] = (429,)
    aborted: tuple[int, ...] = (503,)
    duplicate_timeout: tuple[int, ...] = (504,)


@dataclass(frozen=True)
class Stream:
    path: str = "/v1/agents/{agent}/stream"


@dataclass(frozen=True)
class Session:
    path: str = "/v1/agents/{agent}/session"
    initialize: Any = field(default_factory=lambda: dict(DEFAULT_INITIALIZE))


@dataclass(frozen=True)
class Gates:
    fail_on: tuple[str, ...] = ()  # checked by the harness (loadtest/verdict/gates.py)


@dataclass(frozen=True)
class Workload:
    invoke: Invoke = field(default_factory=Invoke)
    statuses: Statuses = field(default_factory=Statuses)
    stream: Stream = field(default_factory=Stream)
    session: Session = field(default_factory=Session)
    gates: Gates = field(default_factory=Gates)

    def invoke_path(self, agent: str) -> str:
        return self.invoke.path.replace("{agent}", agent)

    def invoke_body(self, prompt: str) -> Any:
        return _fill(self.invoke.body, prompt)

    def status_outcome(self, status: int) -> str | None:
        """The outcome a non-2xx status means, or None for "just an HTTP error"."""
        for outcome in ("conflict", "throttled", "aborted", "duplicate_timeout"):
            if status in getattr(self.statuses, outcome):
                return outcome
        return None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Workload:
        data = json.loads(text) if text else {}
        return _build(data, "--workload", "")


def _fill(value: Any, prompt: str) -> Any:
    if isinstance(value, str):
        return value.replace("{prompt}", prompt)
    if isinstance(value, list):
        return [_fill(v, prompt) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, prompt) for k, v in value.items()}
    return value


SECTIONS: dict[str, type] = {"invoke": Invoke, "statuses": Statuses, "stream": Stream}
SECTIONS["session"] = Session
SECTIONS["gates"] = Gates


def load_workload(path: Path) -> Workload:
    """Parse and check a workload file; WorkloadError naming the key and line if it is bad."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise WorkloadError(f"--workload {str(path)!r}: cannot read it ({exc.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WorkloadError(f"--workload {str(path)!r}: not valid TOML: {exc}") from None
    return _build(data, f"--workload {str(path)!r}", text)


def _build(data: dict[str, Any], where: str, text: str) -> Workload:
    parts: dict[str, Any] = {}
    for section, value in data.items():
        if section not in SECTIONS:
            raise _error(
                where, text, section, None, f"unknown table (known: {', '.join(SECTIONS)})"
            )
        if not isinstance(value, dict):
            raise _error(where, text, section, None, "must be a table")
        parts[section] = _section(SECTIONS[section], section, value, where, text)
    return Workload(**parts)


def _section(kind: type, section: str, values: dict[str, Any], where: str, text: str) -> Any:
    known = {f.name for f in fields(kind)}
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise _error(where, text, section, key, f"unknown key (known: {', '.join(known)})")
        problem = _check(section, key, value)
        if problem:
            raise _error(where, text, section, key, problem)
        checked[key] = tuple(value) if section in ("statuses", "gates") else value
        if key == "method":
            checked[key] = value.upper()
    return kind(**checked)


def _check(section: str, key: str, value: Any) -> str | None:
    if section == "gates":
        ok = isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)
        return None if ok else f'must be a list of gates like "wedged", got {value!r}'
    if section == "statuses":
        ok = isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) and 300 <= v <= 599 for v in value
        )
        return None if ok else f"must be a list of HTTP statuses 300..599, got {value!r}"
    if key in ("body", "initialize"):
        return None if isinstance(value, dict | list | str) else "must be a table or a string"
    if not isinstance(value, str):
        return f"must be a string, got {value!r}"
    if key == "path" and not value.startswith("/"):
        return f"must start with '/', got {value!r}"
    if key == "method" and value.upper() not in METHODS:
        return f"must be one of {', '.join(METHODS)}, got {value!r}"
    if key == "idempotency_header" and not HEADER.match(value):
        return f"is not an HTTP header name: {value!r}"
    return None


def _error(where: str, text: str, section: str, key: str | None, problem: str) -> WorkloadError:
    name = f"{section}.{key}" if key else section
    line = _line_of(text, section, key)
    at = f" (line {line})" if line else ""
    return WorkloadError(f"{where}: {name}{at} {problem}")


def _line_of(text: str, section: str, key: str | None) -> int | None:
    """Where `section.key` is written: under its [section] header, or as a dotted key."""
    current = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        header = re.match(r"^\[\s*([\w.-]+)\s*\]", line)
        if header:
            current = header.group(1)
            if key is None and current == section:
                return number
            continue
        assigned = re.match(r"^([\w.\"-]+)\s*=", line)
        if not assigned:
            continue
        name = assigned.group(1).replace('"', "")
        full = f"{current}.{name}" if current else name
        wanted = f"{section}.{key}" if key else section
        if full == wanted or (key is None and full.startswith(f"{section}.")):
            return number
    return None


def add_workload_argument(parser: Any) -> None:
    parser.add_argument(
        "--workload",
        default="",
        help="the target's API as JSON (stampede compare fills it from --workload FILE.toml)",
        include_in_web_ui=False,
    )


def workload_of(parsed: Any) -> Workload:
    return Workload.from_json(str(getattr(parsed, "workload", "") or ""))
