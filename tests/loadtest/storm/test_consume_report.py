"""How compare reads a claude-agent-sdk stream run pattern by pattern: summary, verdict, report.

The inputs are what a `--stream-impl claude-agent-sdk` server's final `/v1/status` holds
(tests/e2e/test_sdk_claude.py checks the server side against real releases).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from stampede.loadtest.report import Heading, Table
from stampede.loadtest.storm.scenarios.consume_report import (
    consume_sections,
    consume_summary,
    consume_verdict,
)
from stampede.loadtest.storm.scenarios.hazard_report import hazard_summary
from stampede.server.hazards.stream.consume import parse_patterns

BUGGY = {
    "relay": {"started": 10, "dropped": 10},
    "break": {
        "started": 10,
        "dropped": 10,
        "cancel_scope": 10,
        "consumer_cancelled": 10,
        "asgi_errors": 10,
        "asgi_error_texts": {"RuntimeError: Attempted to exit a cancel scope": 10},
    },
    "flag": {"started": 10, "dropped": 8, "completed": 2, "cancel_scope": 8},
    "cancel": {"started": 0},
}
FIXED = {name: {"started": 10, "dropped": 10} for name in ("relay", "break", "flag", "cancel")}


def variant(patterns: dict[str, Any], sdk: str, loop_errors: dict[str, int]) -> dict[str, Any]:
    """One variant's summary as compare builds it: the hazard hook, then the consume hook."""
    status = {"hazards": {"stream": {"sdk": sdk, "break_after": 3, "patterns": patterns}}}
    record = SimpleNamespace(status=status, baseline={}, samples=[])
    summary: dict[str, Any] = {
        "requests": {"ok": 37, "failed": 1},  # Locust's count: every stream, not only dropped
        "loop_errors": loop_errors,
        "leaked_tasks": 0,
    }
    summary.update(hazard_summary("cancel_scope")(record, summary))
    summary.update(consume_summary(record, summary))
    return summary


def test_summary_counts_per_dropped_stream_and_skips_patterns_not_run() -> None:
    v = variant(BUGGY, "claude-agent-sdk 0.1.50", {"cancel_scope": 18})
    assert v["sdk"] == "claude-agent-sdk 0.1.50"
    patterns = v["consume"]["patterns"]
    assert list(patterns) == ["relay", "break", "flag"]  # cancel never started
    assert patterns["break"]["per_dropped_stream"] == {
        "cancel_scope": 1.0,
        "consumer_cancelled": 1.0,
        "asgi_errors": 1.0,
    }
    assert patterns["flag"]["per_dropped_stream"]["cancel_scope"] == 1.0  # 8 over 8 dropped
    assert patterns["flag"]["result"] == "flagged" and patterns["relay"]["result"] == "clean"
    # The hazard's trigger is a dropped stream as the server counted it, not a Locust request.
    assert v["hazard"]["triggers"] == 28 and v["hazard"]["errors_per_trigger"] == 0.643
    assert v["hazard"]["result"] == "flagged"


def test_verdict_names_the_flagging_patterns_and_why_relay_cannot() -> None:
    variants = {
        "claude-agent-sdk==0.1.50": variant(BUGGY, "claude-agent-sdk 0.1.50", {"cancel_scope": 18}),
        "claude-agent-sdk==0.1.51": variant(FIXED, "claude-agent-sdk 0.1.51", {}),
    }
    buggy, fixed, why = consume_verdict(variants)
    assert buggy.startswith("claude-agent-sdk==0.1.50 by consumption pattern: relay clean")
    assert "break FLAGGED (1.00 cancel-scope reports, 1.00 consumers cancelled, 1.00 ASGI" in buggy
    assert "flag FLAGGED (1.00 cancel-scope reports, 0.00 consumers cancelled" in buggy
    assert fixed.count("clean (0 over 10 dropped)") == 4
    assert why.startswith("relay (the client hangs up) cannot trigger it on any release")
    # A variant of Stampede's own implementations has no patterns: nothing is added.
    assert consume_verdict({"anyio_taskgroup": {"hazard": {}}}) == []


def test_report_section_has_a_row_per_release_and_pattern() -> None:
    variants = {
        "claude-agent-sdk==0.1.50": variant(BUGGY, "claude-agent-sdk 0.1.50", {"cancel_scope": 18}),
        "claude-agent-sdk==0.2.189": variant(FIXED, "claude-agent-sdk 0.2.189", {}),
    }
    blocks = consume_sections({"variants": variants})
    assert blocks[0] == Heading("Consumption patterns")
    (table,) = [b for b in blocks if isinstance(b, Table)]
    assert [row[:3] for row in table.rows][:3] == [
        ["claude-agent-sdk==0.1.50", "relay", "10"],
        ["claude-agent-sdk==0.1.50", "break", "10"],
        ["claude-agent-sdk==0.1.50", "flag", "8"],
    ]
    assert table.rows[1][3:] == ["10 (1.00)", "10 (1.00)", "10 (1.00)", "flagged"]
    assert len(table.rows) == 3 + 4
    assert consume_sections({"variants": {"owner_task": {}}}) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "name at least one"), ("break,nope", "unknown pattern 'nope'"), ("flag,flag", "twice")],
)
def test_bad_pattern_lists_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_patterns(text)
    assert parse_patterns(" cancel , relay ") == ("cancel", "relay")
