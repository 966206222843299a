"""The overlap storm (strands-agents #1176): the same chat turns one at a time, then all at once.

Each variant's summary gains a `shared_agent` block (loadtest/verdict/shared_agent.py): per
phase the requests, failures by kind (409, 5xx, corrupted answers), and the finding. The kinds
come from Locust's failures table, the counts from its stats. A variant served by a real strands
release (`compare --sdk strands-agents==A,... --scenario shared_agent`) adds `server`: the
release and what it raised, by exception class, from the server's status.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from stampede.loadtest.storm.scenarios.detector_tables import detector_section
from stampede.loadtest.storm.scenarios.scenario import for_hazard
from stampede.loadtest.verdict import shared_agent as verdict
from stampede.server.hazards import SHARED_AGENT as SPEC

MARKERS = verdict.PHASE_NAMES


def overlap_summary(record: Any, summary: dict[str, Any]) -> dict[str, Any]:
    by_name = (summary.get("requests") or {}).get("by_name") or {}
    phases = verdict.phase_counts(by_name, _failures_of(record), MARKERS)
    block = verdict.overlap_finding(phases)
    server = _sdk_counts(getattr(record, "status", None) or {})
    if server:  # a real SDK answered: what it raised, as the server counted it (not decided on)
        block["server"] = server
    return {"shared_agent": block}


def _sdk_counts(status: dict[str, Any]) -> dict[str, Any]:
    """`--shared-agent-impl strands`: the release, its exceptions by class, the final history."""
    hazard = (status.get("hazards") or {}).get("shared_agent") or {}
    if not hazard.get("sdk"):
        return {}
    counts = dict(hazard.get("counts") or {})
    return {
        "sdk": hazard["sdk"],
        "ok": int(counts.pop("ok", 0)),
        "corrupted_answers": int(counts.pop("corrupted_answer", 0)),
        "raised": dict(sorted(counts.items())),
        "history": hazard.get("history"),
        "model_calls": hazard.get("model_calls") or {},
    }


def _failures_of(record: Any) -> list[dict[str, str]]:
    prefix = getattr(record, "csv_prefix", None)
    if prefix is None:
        return []
    try:
        with Path(f"{prefix}_failures.csv").open(newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError:
        return []


def overlap_verdict(variants: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for name, v in variants.items():
        if v.get("error"):
            lines.append(f"{name} did not run to the end: {v['error']}")
        else:
            lines.append(verdict.overlap_line(name, v.get("shared_agent") or {}))
    return lines


def _raised(block: dict[str, Any]) -> str | None:
    server = block.get("server") or {}
    if not server:
        return None  # Stampede's own implementations: no SDK to ask
    raised = ", ".join(f"{kind} {n}" for kind, n in (server.get("raised") or {}).items())
    return f"{server.get('sdk')}: {raised or 'nothing'}"


def _phase(block: dict[str, Any], phase: str) -> str:
    p = block.get(phase) or {}
    return f"{p.get('failed', 0)}/{p.get('requests', 0)}"


SHARED_AGENT = for_hazard(
    SPEC,
    "Cycles of --burst-size chat turns on fresh sessions, first one at a time, then the same "
    "turns all at once, every answer checked (history length against its turn count): one "
    "agent shared by every request (shared) answers one at a time soundly and fails or answers "
    "corrupted histories once turns overlap, for good; an agent per session (per_session) "
    "answers all; one agent behind a lock (locked) refuses the overlap with 409s.",
    locust_args={"burst_size": "8"},
    summary_hooks=[overlap_summary],
    verdict=overlap_verdict,
    verdict_on_targets=True,
    sections=detector_section(
        "Overlapping requests",
        "shared_agent",
        "The same chat turns sent one at a time (before any overlap), all at once, and one at a "
        "time again: failed over sent in each phase; overlap faults exclude 409s (a refusal, "
        "not a fault); corrupted answers are 200s whose history length is not 2 x turns; with a "
        "real strands release, what it raised, by exception class, as the server counted it.",
        [
            ("before: failed", lambda b: _phase(b, "before")),
            ("overlapping: failed", lambda b: _phase(b, "overlap")),
            ("after: failed", lambda b: _phase(b, "after")),
            ("409s", lambda b: b.get("overlap_conflicts")),
            ("corrupted answers", lambda b: b.get("corrupted_answers")),
            ("the SDK raised", _raised),
        ],
    ),
)
