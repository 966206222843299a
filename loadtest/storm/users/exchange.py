"""One workload request over a user's HTTP client: placeholders filled, the answer judged by
its success rule, the declared values captured; and the `[[setup]]` steps and `[poll]` built
on it (the workload's shape: users/workload.py).

A failed setup step is its own failure kind (`setup_failed`), never the intent's answer; an
answer judged a failure by the protocol (a JSON-RPC error, RUN_ERROR) is an AnswerError whose
message is the constant kind, so Locust's failures table gets one row per kind.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import gevent
from stampede.loadtest.storm.users.json_path import MISSING, document_of, lookup
from stampede.loadtest.storm.users.outcomes import (
    AnswerError,
    ClientTimeoutError,
    SetupFailedError,
    StormFailure,
    classify,
    judge_response,
    outcome_of,
)
from stampede.loadtest.storm.users.placeholders import fill, fill_headers
from stampede.loadtest.storm.users.success import Judgement
from stampede.loadtest.storm.users.workload import Poll, Step, Workload

_counter = itertools.count(1)  # {n}: per attempt, unique in this process


def attempt_context(base: dict[str, Any]) -> dict[str, Any]:
    """The context of one attempt: {n} and {uuid} fresh, the rest as given."""
    return {**base, "n": next(_counter), "uuid": str(uuid.uuid4())}


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str
    headers: Any

    def header(self, name: str) -> str | None:
        if self.headers is None:
            return None
        value = self.headers.get(name)
        if value is None:  # some header maps are case-sensitive
            wanted = name.lower()
            value = next((v for k, v in self.headers.items() if k.lower() == wanted), None)
        return value


def encode(request: Any, context: dict[str, Any], extra: dict[str, str]) -> dict[str, Any]:
    """client.request keyword arguments: path, headers and body with placeholders filled."""
    headers = fill_headers(request.headers, context)
    headers.update(extra)
    kwargs: dict[str, Any] = {"headers": headers}
    body = request.body
    if body is not None:
        filled = fill(body, context)
        if isinstance(filled, str):
            kwargs["data"] = filled.encode()
        else:
            kwargs["data"] = json.dumps(filled).encode()
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
    return {"url": str(fill(request.path, context)), **kwargs}


def captured(capture: dict[str, str], answer: Answer) -> dict[str, Any] | None:
    """The captured values; None when a required one is missing (an optional one is "")."""
    values: dict[str, Any] = {}
    document = None
    for name, source in capture.items():
        kind, _, where = source.partition(":")
        optional = kind.endswith("?")
        if kind.startswith("header"):
            value: Any = answer.header(where)
        else:
            if document is None:
                document = document_of(answer.body, answer.content_type)
            value = lookup(document, where)
            value = None if value is MISSING else value
        if value is None and not optional:
            return None
        values[name] = "" if value is None else value
    return values


def send(
    user: Any,
    request: Any,
    context: dict[str, Any],
    name: str,
    headers: dict[str, str] | None = None,
    intent: str | None = None,
    setup: bool = False,
) -> Any:
    """client.request's context manager for one workload request (caller judges it). A setup
    step's success is labelled so: it is not the storm's progress (client_metrics.py)."""
    kwargs = encode(request, context, headers or {})
    url = kwargs.pop("url")
    labels = user.context() if intent is None else {**user.context(), "intent": intent}
    if setup:
        labels["setup"] = True
    return user.client.request(
        request.method, url, name=name, catch_response=True, context=labels, **kwargs
    )


def answer_of(response: Any) -> Answer:
    headers = getattr(response, "headers", None)
    content_type = ""
    if headers is not None:
        content_type = headers.get("content-type") or headers.get("Content-Type") or ""
    status = int(getattr(response, "status_code", 0) or 0)
    try:
        body = bytes(response.content or b"")
    except Exception:  # a body cut off mid-read raises again on every access
        body = b""
    return Answer(status, body, content_type, headers)


def judged(response: Any, workload: Workload, rule: Any) -> tuple[StormFailure | None, Judgement]:
    """The workload's status meanings first (conflict, throttled...), then `rule`: the failure
    (None: success) and the judgement with its sample (users/outcomes.py judge_response)."""
    return judge_response(response, workload, rule)


def run_steps(user: Any, steps: tuple[Step, ...], context: dict[str, Any]) -> str:
    """Run setup steps in order, adding their captures to `context`; "ok" or the outcome."""
    for step in steps:
        ctx = attempt_context(context)
        outcome = "connection_error"
        name = f"{user.name_prefix}setup [{step.name}]"
        with send(user, step, ctx, name, setup=True) as response:
            failure, _ = judged(response, user.workload, step.rule())
            values = captured(step.capture, answer_of(response)) if failure is None else None
            if values is None:  # refused, not the protocol's success, or a capture missing
                failure = SetupFailedError("setup_failed")
            if failure is None:
                response.success()
                context.update(values or {})
                outcome = "ok"
            else:
                response.failure(failure)
                outcome = outcome_of(failure)
        if outcome != "ok":
            return outcome
    return "ok"


def poll_until(
    user: Any, poll: Poll, first: Answer, context: dict[str, Any], label: str, deadline: float
) -> str:
    """Poll until `until` is done ("ok"), failed ("poll_failed") or the deadline passes
    ("client_timeout"); the invoke's own answer may already be terminal. Only the terminal
    poll is a request in Locust's stats."""
    state = _state(poll, first)
    while state == "pending":
        left = deadline - time.monotonic()
        if left <= 0:
            return "client_timeout"
        gevent.sleep(min(poll.interval_s, left))
        with send(user, poll, attempt_context(context), f"{user.name_prefix}poll [{label}]") as r:
            failure = classify(r, user.workload)
            if failure is None:
                state = _state(poll, answer_of(r))
                if state == "failed":
                    failure = AnswerError.of("poll_failed")
            if failure is not None:
                r.failure(failure)
                return outcome_of(failure)
            if state == "pending":
                # Not reported: "still working" is no success, and a wedged server that
                # answers polls forever must still show as stalled (no success, in flight).
                # Neither True nor an exception: Locust's context manager then fires nothing.
                r._manual_result = False
            else:
                r.success()
    return "ok"


def _state(poll: Poll, answer: Answer) -> str:
    value = lookup(document_of(answer.body, answer.content_type), poll.until)
    if value is not MISSING and value in poll.done:
        return "done"
    if value is not MISSING and value in poll.failed:
        return "failed"
    return "pending"


__all__ = ["Answer", "ClientTimeoutError", "attempt_context", "poll_until", "run_steps", "send"]
