"""The state-leak storm (mcp python-sdk #1283): sessions opened and never deleted.

One successful request is one session. RSS, fds (and live tasks, with the probe) are fitted
against the sessions opened over the storm, and read again after an idle phase longer than
the fix's idle timeout and a gc pass; the finding and its leak rate are verdict/leak.py's.
"""

from __future__ import annotations

from typing import Any

from stampede.loadtest.storm.scenarios.detector_tables import sections_for
from stampede.loadtest.storm.scenarios.runtime_report import (
    storm_rows,
    verdict_for,
    with_black_box,
)
from stampede.loadtest.storm.scenarios.scenario import for_hazard
from stampede.loadtest.verdict.figures import Figure, Series
from stampede.loadtest.verdict.leak import MIB, THRESHOLDS, leak_finding
from stampede.server.hazards import STATE_LEAK as SPEC

KEY = "state_leak"
IDLE_S = 2.0
METRICS = tuple(THRESHOLDS)


def leak_summary(record: Any, summary: dict[str, Any]) -> dict[str, Any]:
    rows = storm_rows(record)
    points = [
        {"sessions": r["client_ok"], **{m: r[m] for m in METRICS if m in r}}
        for r in rows
        if isinstance(r.get("client_ok"), int)
    ]
    first = record.samples[0] if record.samples else {}
    start = {m: first.get(m) for m in METRICS}
    start["event_loop_tasks"] = record.baseline.get("event_loop_tasks")
    end = {m: record.idle.get(m) for m in METRICS}
    end["event_loop_tasks"] = record.final.get("event_loop_tasks", end["event_loop_tasks"])
    ok = (summary.get("requests") or {}).get("ok")
    sessions = ok if isinstance(ok, int) else max((p["sessions"] for p in points), default=0)
    finding = leak_finding(points, start, end, sessions)
    outside = [{k: v for k, v in p.items() if k != "event_loop_tasks"} for p in points]
    start.pop("event_loop_tasks")
    end.pop("event_loop_tasks")
    return {KEY: with_black_box(finding, leak_finding(outside, start, end, sessions))}


def _cells(f: dict[str, Any]) -> list[Any]:
    rate, held = f.get("per_1000") or {}, f.get("held_per_1000") or {}

    def mib(value: Any) -> Any:
        return None if value is None else f"{value / MIB:+.1f}"

    return [
        f.get("sessions"),
        mib(rate.get("rss_bytes")),
        rate.get("event_loop_tasks"),
        rate.get("open_fds"),
        mib(held.get("rss_bytes")),
        held.get("event_loop_tasks"),
        held.get("open_fds"),
    ]


STATE_LEAK = for_hazard(
    SPEC,
    "Clients that open a session (POST /v1/sessions) and leave without DELETE: `kept` holds "
    "each session's task and 32 KiB buffer forever, `reaped` drops them after 0.5 s idle. "
    "An idle phase after the storm and a gc pass show what is still held.",
    verdict=verdict_for(KEY),
    verdict_on_targets=True,
    summary_hooks=[leak_summary],
    figures=(
        Figure(
            "rss.png",
            "Resident memory of the server",
            "MiB",
            (Series("RSS", "rss_bytes", scale=1 / MIB),),
        ),
    ),
    sections=sections_for(
        KEY,
        "State per 1,000 sessions",
        "Slopes fitted over the storm's second half (per 1,000 sessions opened), then what was "
        "still held "
        f"after it, an idle phase of {IDLE_S:g} s and a gc pass, against the start (per 1,000).",
        [
            "sessions",
            "RSS MiB /1k",
            "tasks /1k",
            "fds /1k",
            "held RSS MiB /1k",
            "held tasks /1k",
            "held fds /1k",
        ],
        _cells,
    ),
    idle_s=IDLE_S,
)
