"""One health check over WebSocket: open, send initialize, read the reply, close; judged.

The reply counts as a success by the success rule (users/success.py, `judge`): the upgrade
went through (101), and the reply is JSON with a `result`, the id that was sent and no
JSON-RPC `error` member; anything else is the failure kind the rule names (jsonrpc_error,
json_check). websocket-client is a plain-socket client, so under Locust's gevent patching it
yields instead of blocking; every call is bounded by the client timeout. Locust-free.
"""

from __future__ import annotations

import contextlib
import json
import socket
from typing import Any

import websocket
from stampede.loadtest.storm.users.outcomes import (
    AnswerError,
    ClientTimeoutError,
    ConnectionFailedError,
    StormFailure,
    UnexpectedStatusError,
)
from stampede.loadtest.storm.users.success import JsonCheck, SuccessRule, failure_message, judge

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1}}


def ws_url(http_url: str, agent: str, path: str = "/v1/agents/{agent}/session") -> str:
    base = http_url.rstrip("/").replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return base + path.replace("{agent}", agent)


def reply_rule(message: Any) -> SuccessRule:
    """When a health check's reply is a success (users/success.py): the upgrade (101) went
    through, and the reply is JSON with a `result`, no JSON-RPC `error`, and the id sent."""
    checks = [JsonCheck("result", "present")]
    if isinstance(message, dict) and "id" in message:
        checks.append(JsonCheck("id", "equals", message["id"]))
    return SuccessRule(statuses=(101,), json=tuple(checks))


def judge_reply(rule: SuccessRule, status: int, raw: str | bytes) -> StormFailure | None:
    """None for a successful reply, else the failure its judgement names."""
    body = raw.encode() if isinstance(raw, str) else bytes(raw)
    judgement = judge(rule, status, body, "application/json", True)
    if judgement.ok:
        return None
    if judgement.kind.startswith("http_"):
        return UnexpectedStatusError(failure_message(judgement, status))
    return AnswerError.of(judgement.kind)


def health_check(url: str, timeout: float, initialize: Any = None) -> int:
    """Open, initialize, close; returns the reply's size. Raises a StormFailure on trouble,
    a reply that is not initialize's result included (judged by reply_rule)."""
    try:
        ws = websocket.create_connection(url, timeout=timeout)
    except websocket.WebSocketBadStatusException as exc:
        raise UnexpectedStatusError(f"unexpected HTTP {exc.status_code}") from None
    except (OSError, websocket.WebSocketException) as exc:
        raise _failure(exc) from None
    try:
        message = INITIALIZE if initialize is None else initialize
        ws.send(message if isinstance(message, str) else json.dumps(message))
        raw = ws.recv()
        failure = judge_reply(reply_rule(message), int(ws.getstatus() or 101), raw)
        if failure is not None:
            raise failure
        return len(raw)
    except (OSError, websocket.WebSocketException) as exc:
        raise _failure(exc) from None
    finally:
        # The point of the check: the peer goes away right after initialize.
        with contextlib.suppress(OSError, websocket.WebSocketException):
            ws.close(timeout=timeout)


def _failure(exc: BaseException) -> StormFailure:
    if isinstance(exc, TimeoutError | socket.timeout | websocket.WebSocketTimeoutException):
        return ClientTimeoutError("no answer within the client timeout")
    return ConnectionFailedError(f"connection failed: {type(exc).__name__}")
