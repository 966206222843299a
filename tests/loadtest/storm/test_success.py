"""The success rule: a status is not an answer; the whole body, and what it says, is."""

from __future__ import annotations

import json

from stampede.loadtest.storm.users.success import (
    SAMPLE_CHARS,
    JsonCheck,
    SuccessRule,
    failure_message,
    judge,
    sse_events,
)

JSON = "application/json"
SSE = "text/event-stream"
DEFAULT = SuccessRule()


def test_a_complete_2xx_body_is_ok_and_an_incomplete_one_is_not() -> None:
    assert judge(DEFAULT, 200, b'{"text": "hi"}', JSON, complete=True).ok
    late = judge(DEFAULT, 200, b"", JSON, complete=False)
    assert (late.ok, late.kind) == (False, "incomplete_body")
    assert "0 byte(s)" in late.sample


def test_statuses_outside_the_rule_fail_with_the_body_as_sample() -> None:
    body = b'{"detail": "ConcurrencyException: Agent is already processing a request"}'
    got = judge(DEFAULT, 500, body, JSON, complete=True)
    assert (got.ok, got.kind) == (False, "http_500")
    assert "ConcurrencyException" in got.sample
    assert failure_message(got, 500) == "unexpected HTTP 500"
    assert judge(SuccessRule(statuses=(202,)), 200, b"{}", JSON, True).kind == "http_200"
    assert judge(SuccessRule(statuses=(202,)), 202, b"{}", JSON, True).ok


def test_a_jsonrpc_error_member_fails_by_default_only() -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "error": {"code": -32600, "message": "bad"}})
    got = judge(DEFAULT, 200, body.encode(), JSON, True)
    assert (got.ok, got.kind) == (False, "jsonrpc_error") and "-32600" in got.sample
    assert judge(SuccessRule(jsonrpc_error_fails=False), 200, body.encode(), JSON, True).ok
    # An `error` key in a non-JSON-RPC body is the app's business unless a check says so.
    assert judge(DEFAULT, 200, b'{"error": null, "ok": 1}', JSON, True).ok


def test_json_checks_all_hold_or_the_attempt_fails() -> None:
    rule = SuccessRule(
        json=(
            JsonCheck("error", "absent"),
            JsonCheck("result.status.state", "equals", "completed"),
            JsonCheck("result.items.0", "present"),
            JsonCheck("result.kind", "one_of", ("task", "message")),
        )
    )
    good = {"result": {"status": {"state": "completed"}, "items": [1], "kind": "task"}}
    assert judge(rule, 200, json.dumps(good).encode(), JSON, True).ok
    for broken in (
        {**good, "error": "x"},
        {"result": {**good["result"], "status": {"state": "working"}}},
        {"result": {**good["result"], "items": []}},
        {"result": {**good["result"], "kind": "other"}},
    ):
        got = judge(rule, 200, json.dumps(broken).encode(), JSON, True)
        assert (got.ok, got.kind) == (False, "json_check"), broken
    assert judge(rule, 200, b"<html>", "text/html", True).kind == "json_check"


def test_a_negative_index_counts_from_a_lists_end() -> None:
    # google-adk's /run answers a list of events; its preset checks the last one's text.
    rule = SuccessRule(json=(JsonCheck("-1.content.parts.0.text", "present"),))
    events = [
        {"content": {"parts": [{"function_call": {}}]}},
        {"content": {"parts": [{"text": "hi"}]}},
    ]
    assert judge(rule, 200, json.dumps(events).encode(), JSON, True).ok
    assert judge(rule, 200, json.dumps(events[:1]).encode(), JSON, True).kind == "json_check"
    assert judge(rule, 200, b"[]", JSON, True).kind == "json_check"


def test_sse_streams_need_their_terminal_event_when_the_rule_names_one() -> None:
    body = b'event: start\ndata: {}\n\ndata: {"type": "RUN_FINISHED"}\n\n'
    assert sse_events(body) == [("start", "{}"), ("message", '{"type": "RUN_FINISHED"}')]
    done = SuccessRule(sse_done=("RUN_FINISHED",), sse_failed=("RUN_ERROR",))
    assert judge(done, 200, body, SSE, True).ok
    cut = judge(done, 200, b"event: start\ndata: {}\n\n", SSE, True)
    assert (cut.ok, cut.kind) == (False, "sse_unterminated")
    failed = judge(done, 200, b'data: {"type": "RUN_ERROR", "message": "boom"}\n\n', SSE, True)
    assert (failed.ok, failed.kind) == (False, "sse_failed") and "boom" in failed.sample
    # No terminal event named: a stream read to its end is an answer; one cut is not.
    assert judge(DEFAULT, 200, b"data: x\n\n", SSE, True).ok
    assert judge(DEFAULT, 200, b"data: x\n\n", SSE, False).kind == "incomplete_body"


def test_samples_are_one_short_line() -> None:
    got = judge(DEFAULT, 500, b"line one\nline two " + b"x" * 1000, "text/plain", True)
    assert "\n" not in got.sample and len(got.sample) <= SAMPLE_CHARS
    assert got.sample.startswith("line one line two")
