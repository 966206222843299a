"""Locust's failures CSV into summary.json's failed_by_kind: the protocol's own failure kinds
(AnswerError('KIND')) and failed setup steps (SetupFailedError) each count as themselves."""

from __future__ import annotations

from pathlib import Path

from stampede.loadtest.report.results import locust_requests
from stampede.loadtest.storm.users.outcomes import AnswerError, SetupFailedError


def test_protocol_failures_are_counted_by_their_own_kind(tmp_path: Path) -> None:
    prefix = tmp_path / "mcp"
    (tmp_path / "mcp_stats.csv").write_text(
        "Type,Name,Request Count,Failure Count\nPOST,invoke,10,7\n,Aggregated,10,7\n"
    )
    rows = [
        ("invoke", repr(AnswerError.of("json_check")), 3),
        ("poll", repr(AnswerError.of("poll_failed")), 2),
        ("setup [initialize]", repr(SetupFailedError("setup_failed")), 1),
        ("invoke", "UnexpectedStatusError('unexpected HTTP 500')", 1),
    ]
    lines = ["Method,Name,Error,Occurrences"]
    lines += [f'POST,{name},"{error}",{count}' for name, error, count in rows]
    (tmp_path / "mcp_failures.csv").write_text("\n".join(lines) + "\n")
    requests, _ = locust_requests(prefix)
    assert requests["failed_by_kind"] == {
        "json_check": 3,
        "poll_failed": 2,
        "setup_failed": 1,
        "http_error": 1,
    }
    assert AnswerError.of("json_check") is AnswerError.of("json_check")  # one row per kind
    assert AnswerError.of("json_check").outcome == "json_check"
