"""How the storm talks to someone else's API: a small TOML file, defaults = the built-in server.

    [params]                    # per-server values; --protocol-arg NAME=VALUE overrides them
    tool = "echo"

    [[setup]]                   # requests before the storm's: per user, intent or attempt
    name = "initialize"
    scope = "user"
    path = "/mcp"
    headers = { Accept = "application/json, text/event-stream" }
    body = { jsonrpc = "2.0", id = "{n}", method = "initialize", params = {} }
    capture = { session = "header?:Mcp-Session-Id" }   # header:NAME | json:PATH; ? = optional

    [invoke]                    # the idempotency storm
    method = "POST"
    path = "/v1/agents/{agent}/invocations"
    body = { prompt = "{prompt}", tool = "{param.tool}" }
    headers = { Mcp-Session-Id = "{session}" }          # an empty value is not sent
    idempotency_header = "Idempotency-Key"              # "" sends none
    response = "json"                                   # or "sse": read to its terminal event
    capture = { task = "json:result.id" }               # for [poll]

    [invoke.success]            # when an answer is the protocol's success (users/success.py)
    statuses = [200]
    present = ["result"]
    absent = ["error"]
    equals = { "result.isError" = false }
    one_of = { "result.status.state" = ["completed"] }
    sse_done = ["RUN_FINISHED"]
    sse_failed = ["RUN_ERROR"]

    [poll]                      # repeated every interval_s until `until` is done or failed
    path = "/"
    body = { jsonrpc = "2.0", id = "{n}", method = "tasks/get", params = { id = "{task}" } }
    until = "result.status.state"
    done = ["completed"]
    failed = ["failed", "canceled", "rejected"]

    [statuses]                  # what the answers mean (all other non-2xx: http_error)
    conflict = [409]

    [stream]                    # a stream that clients leave early (GET or POST)
    path = "/v1/agents/{agent}/stream"

    [session]                   # a WebSocket JSON-RPC initialize, then close
    path = "/v1/agents/{agent}/session"

    [gates]                     # CI gates, added to --fail-on (loadtest/verdict/gates.py)
    fail_on = ["wedged", "goodput_ratio<0.9"]

Placeholders (users/placeholders.py): {prompt} {key} {agent} {n} {uuid} and captured names; an
unknown one is refused before the run starts. `load_workload` parses with tomllib; a bad file is
one `WorkloadError` naming the key and its line (users/workload_checks.py). The checked
workload reaches every Locust process as JSON in the `--workload` custom argument. No Locust
import here, so the harness can check a file without loading Locust's gevent.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from stampede.loadtest.storm.users import workload_checks as checks
from stampede.loadtest.storm.users.placeholders import fill, resolve_params
from stampede.loadtest.storm.users.success import SuccessRule
from stampede.loadtest.storm.users.workload_checks import WorkloadError

DEFAULT_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": 1},
}  # the built-in server's (and ACP's) initialize
__all__ = ["Invoke", "Poll", "Step", "Stream", "Workload", "WorkloadError", "load_workload"]


@dataclass(frozen=True)
class Invoke:
    method: str = "POST"
    path: str = "/v1/agents/{agent}/invocations"
    body: Any = field(default_factory=lambda: {"prompt": "{prompt}"})
    headers: dict[str, str] = field(default_factory=dict)
    idempotency_header: str = "Idempotency-Key"
    response: str = "json"
    capture: dict[str, str] = field(default_factory=dict)
    success: dict[str, Any] = field(default_factory=dict)

    def rule(self) -> SuccessRule:
        return checks.success_rule(self.success)


@dataclass(frozen=True)
class Step:
    name: str = "setup"
    scope: str = "user"
    method: str = "POST"
    path: str = "/"
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    response: str = "json"
    capture: dict[str, str] = field(default_factory=dict)
    success: dict[str, Any] = field(default_factory=dict)

    def rule(self) -> SuccessRule:
        return checks.success_rule(self.success)


@dataclass(frozen=True)
class Poll:
    method: str = "POST"
    path: str = "/"
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    interval_s: float = 0.2
    until: str = ""
    done: tuple[Any, ...] = ()
    failed: tuple[Any, ...] = ()
    response: str = "json"


@dataclass(frozen=True)
class Statuses:
    conflict: tuple[int, ...] = (409,)
    throttled: tuple[int, ...] = (429,)
    aborted: tuple[int, ...] = (503,)
    duplicate_timeout: tuple[int, ...] = (504,)


@dataclass(frozen=True)
class Stream:
    method: str = "GET"
    path: str = "/v1/agents/{agent}/stream"
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    response: str = "sse"


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
    setup: tuple[Step, ...] = ()
    poll: Poll | None = None

    def steps(self, scope: str) -> tuple[Step, ...]:
        return tuple(step for step in self.setup if step.scope == scope)

    def invoke_path(self, agent: str) -> str:
        return str(fill(self.invoke.path, {"agent": agent}))

    def invoke_body(self, prompt: str) -> Any:
        return fill(self.invoke.body, {"prompt": prompt})

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
        if data.get("poll") is None:
            data.pop("poll", None)
        return _build(data, "--workload", "", {})


TABLES: dict[str, type] = {
    "invoke": Invoke,
    "statuses": Statuses,
    "stream": Stream,
    "session": Session,
    "gates": Gates,
    "poll": Poll,
}
TUPLES = {"statuses", "gates"}


def load_workload(
    path: Path, params: Mapping[str, Any] | None = None, where: str | None = None
) -> Workload:
    """Parse and check a workload file; WorkloadError naming the key and line if it is bad.
    `params` (from --protocol-arg) override the file's own [params]."""
    where = where or f"--workload {str(path)!r}"
    try:
        text = path.read_text()
    except OSError as exc:
        raise WorkloadError(f"{where}: cannot read it ({exc.strerror})") from None
    return parse_workload(text, where, params or {})


def parse_workload(text: str, where: str, params: Mapping[str, Any]) -> Workload:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WorkloadError(f"{where}: not valid TOML: {exc}") from None
    return _build(data, where, text, params)


def _build(data: dict[str, Any], where: str, text: str, given: Mapping[str, Any]) -> Workload:
    declared = data.pop("params", {})
    if not isinstance(declared, dict):
        raise checks.error(where, text, "params", None, "must be a table")
    for name in given:
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise WorkloadError(f"{where}: --protocol-arg {name}: unknown (known: {known})")
    params = {**declared, **given}
    unknown: list[str] = []
    data = resolve_params(data, params, unknown)
    if unknown:
        raise WorkloadError(f"{where}: {{param.{unknown[0]}}} has no value in [params]")
    parts: dict[str, Any] = {}
    for section, value in data.items():
        if section == "setup":
            parts["setup"] = _steps(value, where, text)
            continue
        if section not in TABLES:
            known = ", ".join([*TABLES, "setup", "params"])
            raise checks.error(where, text, section, None, f"unknown table (known: {known})")
        if not isinstance(value, dict):
            raise checks.error(where, text, section, None, "must be a table")
        parts[section] = _section(TABLES[section], section, value, where, text)
    workload = Workload(**parts)
    checks.check_placeholders(workload, where, text)
    return workload


def _steps(value: Any, where: str, text: str) -> tuple[Step, ...]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise checks.error(where, text, "setup", None, "must be [[setup]] tables")
    steps = []
    for index, table in enumerate(value):
        steps.append(_section(Step, f"setup[{index}]", table, where, text))
    return tuple(steps)


def _section(kind: type, section: str, values: dict[str, Any], where: str, text: str) -> Any:
    known = {f.name for f in fields(kind)}
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise checks.error(
                where, text, section, key, f"unknown key (known: {', '.join(sorted(known))})"
            )
        problem = checks.check(section, key, value)
        if problem:
            raise checks.error(where, text, section, key, problem)
        if isinstance(value, list) and (section in TUPLES or key in ("done", "failed")):
            value = tuple(value)
        checked[key] = value.upper() if key == "method" else value
    if kind is Poll and not checked.get("until"):
        raise checks.error(where, text, section, None, "needs `until`, the JSON path to poll")
    return kind(**checked)


def add_workload_argument(parser: Any) -> None:
    parser.add_argument(
        "--workload",
        default="",
        help="the target's API as JSON (stampede compare fills it from --workload FILE.toml)",
        include_in_web_ui=False,
    )


def workload_of(parsed: Any) -> Workload:
    return Workload.from_json(str(getattr(parsed, "workload", "") or ""))
