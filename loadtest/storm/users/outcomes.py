"""What one HTTP attempt ended as, and the failure kinds Locust counts apart.

Locust groups failures by the exception's repr, so every message here is constant: no keys,
agents or timings in it, or the failures table would get one row per request.
"""

from __future__ import annotations

import socket
from typing import Any

import gevent
from stampede.loadtest.storm.users.success import (
    Judgement,
    SuccessRule,
    failure_message,
    judge,
    sample_of,
)
from stampede.loadtest.storm.users.workload import Workload


class StormFailure(Exception):
    outcome = "http_error"
    retryable = False


class ConflictError(StormFailure):
    """409: another key is in flight on the agent."""

    outcome = "conflict"


class DuplicateTimeoutError(StormFailure):
    """504: the server gave up waiting for the in-flight primary on our behalf."""

    outcome = "duplicate_timeout"
    retryable = True


class ClientTimeoutError(StormFailure):
    """No answer within --client-timeout; the server may still be working on it."""

    outcome = "client_timeout"
    retryable = True


class ThrottledError(StormFailure):
    """429: the model was throttled."""

    outcome = "throttled"
    retryable = True


class AbortedError(StormFailure):
    """503: the server is shutting down; retrying would only prolong the teardown."""

    outcome = "aborted"


class ConnectionFailedError(StormFailure):
    outcome = "connection_error"
    retryable = True


class UnexpectedStatusError(StormFailure):
    outcome = "http_error"


class SetupFailedError(StormFailure):
    """A workload's [[setup]] step failed: counted apart from the intent's own answer."""

    outcome = "setup_failed"


class AnswerError(StormFailure):
    """A 2xx the protocol calls a failure (users/success.py); the message is the kind."""

    _kinds: dict[str, AnswerError] = {}

    @classmethod
    def of(cls, kind: str) -> AnswerError:
        if kind not in cls._kinds:
            error = cls(kind)
            error.outcome = kind
            cls._kinds[kind] = error
        return cls._kinds[kind]


_BY_STATUS: dict[int, StormFailure] = {
    409: ConflictError("409 agent busy with another idempotency key"),
    504: DuplicateTimeoutError("504 duplicate timed out waiting for the primary"),
    429: ThrottledError("429 model throttled"),
    503: AbortedError("503 aborted by server shutdown"),
}
# A workload's own statuses: the outcome each one means (messages stay constant per status).
_BY_OUTCOME: dict[str, type[StormFailure]] = {
    "conflict": ConflictError,
    "duplicate_timeout": DuplicateTimeoutError,
    "throttled": ThrottledError,
    "aborted": AbortedError,
}
_FAILURES: dict[tuple[str, int], StormFailure] = {}
TIMEOUT_TYPES = (TimeoutError, socket.timeout, gevent.Timeout)


def classify(response: Any, workload: Workload | None = None) -> StormFailure | None:
    """None for success, else the failure to report. `response` is a FastResponse; a workload
    says which statuses mean what on someone else's API (default: the built-in server's)."""
    status = int(getattr(response, "status_code", 0) or 0)
    if 200 <= status < 300 and (status == 200 or workload is not None):
        return None
    if workload is not None and status:
        outcome = workload.status_outcome(status)
        if outcome is None:
            return UnexpectedStatusError(f"unexpected HTTP {status}")
        if status in _BY_STATUS and _BY_STATUS[status].outcome == outcome:
            return _BY_STATUS[status]  # the built-in meaning, with its usual message
        key = (outcome, status)
        if key not in _FAILURES:
            _FAILURES[key] = _BY_OUTCOME[outcome](f"{status} {outcome.replace('_', ' ')}")
        return _FAILURES[key]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status == 0:
        error = getattr(response, "error", None)
        if _is_timeout(error):
            return ClientTimeoutError("no answer within the client timeout")
        return ConnectionFailedError(f"connection failed: {type(error).__name__}")
    return UnexpectedStatusError(f"unexpected HTTP {status}")


def success_rule(workload: Workload | None) -> SuccessRule:
    """The workload's success rule (`[invoke.success]`), else the default one."""
    invoke = getattr(workload, "invoke", None)
    rule = getattr(invoke, "success", None)
    return rule if isinstance(rule, SuccessRule) else SuccessRule()


def judge_response(
    response: Any, workload: Workload | None = None, rule: SuccessRule | None = None
) -> tuple[StormFailure | None, Judgement]:
    """An attempt's failure (None: success) and its judgement, from everything the client read.

    `response` is a ResponseContextManager (catch_response=True): Locust leaves the exception
    of a body it could not read in its request_meta, and the body is never read again (that
    would wait a second client timeout)."""
    status = int(getattr(response, "status_code", 0) or 0)
    meta = getattr(response, "request_meta", None) or {}
    body_error = meta.get("exception") if status else None
    # By name: importing locust here would gevent-patch every process that judges an answer
    # (the harness, the tests), and late patching breaks ssl (gevent#1016).
    if type(body_error).__name__ == "LocustBadStatusCode":
        body_error = None  # Locust's own mark of a 4xx/5xx: the body itself was read
    failure = classify(response, workload)
    if failure is not None:
        body = b"" if body_error is not None else _body(response)
        error = getattr(response, "error", None)
        sample = sample_of(body) if status else sample_of(f"{type(error).__name__}: {error}")
        return failure, Judgement(False, _kind(failure, status), sample)
    complete = body_error is None
    body = _body(response) if complete else b""
    headers = getattr(response, "headers", None) or {}
    content_type = str(headers.get("content-type", "") or "")
    rule = rule if rule is not None else success_rule(workload)
    judgement = judge(rule, status, body, content_type, complete)
    if judgement.ok:
        return None, judgement
    if judgement.kind == "incomplete_body":
        if body_error is None or _is_timeout(body_error):
            failure = _INCOMPLETE
        else:
            failure = ConnectionFailedError(f"body cut: {type(body_error).__name__}")
        sample = f"headers {status} came, the body did not: {type(body_error).__name__}"
        return failure, Judgement(False, "incomplete_body", sample)
    if judgement.kind.startswith("http_"):
        return UnexpectedStatusError(failure_message(judgement, status)), judgement
    return AnswerError.of(judgement.kind), judgement  # constant: one failures row per kind


_INCOMPLETE = ClientTimeoutError("body not complete within the client timeout")


def _kind(failure: StormFailure, status: int) -> str:
    return f"http_{status}" if status else failure.outcome


def _body(response: Any) -> bytes:
    try:
        content = response.content
    except Exception:
        return b""
    if isinstance(content, str):
        return content.encode()
    return bytes(content or b"")


def _is_timeout(error: BaseException | None) -> bool:
    seen = 0
    while error is not None and seen < 5:  # geventhttpclient may wrap the timeout
        if isinstance(error, TIMEOUT_TYPES):
            return True
        error = getattr(error, "original", None) or error.__cause__
        seen += 1
    return False


def outcome_of(exception: BaseException | None) -> str:
    """Label for a request event's exception (None = ok)."""
    if exception is None:
        return "ok"
    if isinstance(exception, StormFailure):
        return exception.outcome
    return "client_timeout" if _is_timeout(exception) else "connection_error"
