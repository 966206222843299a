"""Does the server fail only when requests overlap? The shared-agent detector's decisions, pure.

One agent object shared by every request (strands-agents #1176) answers one request at a time
fine and breaks when two overlap. The storm sends the same turns one at a time and then all at
once (loadtest/storm/users/shared_agent.py); this compares the phases, from the clients' side
(evidence `clients`: every answer checked, history length against turn count):

- `failing`: answers that failed or came back corrupted only once requests overlapped (none
  before any overlap); `broken for good` too when turns sent one at a time after the overlap
  still fail;
- `refusing` (clean): overlapping calls answered 409, the way a server that serialises one
  agent should, and nothing else failed;
- `clean`: the same turns answered soundly whether they overlapped or not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

BEFORE, OVERLAP, AFTER = "before", "overlap", "after"
# Phase -> the text the storm (loadtest/storm/users/shared_agent.py) puts in its request names.
PHASE_NAMES = {
    BEFORE: "one at a time, before any overlap",
    OVERLAP: "overlapping",
    AFTER: "one at a time, after overlap",
}
# Failure kinds as the user's exceptions name them (Locust's failures table, by class name).
KIND_OF_ERROR = {
    "ConflictError": "conflict",
    "BadAnswerError": "bad_answer",
    "UnexpectedStatusError": "http_error",
    "ClientTimeoutError": "timeout",
    "ConnectionFailedError": "connection_error",
}


def phase_counts(
    by_name: Mapping[str, Mapping[str, Any]],
    failures: Iterable[Mapping[str, str]],
    markers: Mapping[str, str],
) -> dict[str, dict[str, Any]]:
    """Per phase (markers: phase -> text in its request names): requests, failed, by kind."""
    out: dict[str, dict[str, Any]] = {
        phase: {"requests": 0, "failed": 0, "by_kind": {}} for phase in markers
    }

    def phase_of(name: str) -> str | None:
        return next((p for p, marker in markers.items() if f"[{marker}]" in name), None)

    for name, row in by_name.items():
        if (phase := phase_of(name)) is not None:
            out[phase]["requests"] += int(row.get("requests") or 0)
            out[phase]["failed"] += int(row.get("failed") or 0)
    for row in failures:
        phase = phase_of(row.get("Name", ""))
        if phase is None:
            continue
        kind = KIND_OF_ERROR.get(row.get("Error", "").split("(", 1)[0], "other")
        by_kind = out[phase]["by_kind"]
        by_kind[kind] = by_kind.get(kind, 0) + int(float(row.get("Occurrences") or 0))
    return out


def overlap_finding(phases: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The finding and the per-phase figures it rests on."""
    before, overlap, after = (phases.get(p) or {} for p in (BEFORE, OVERLAP, AFTER))
    kinds = overlap.get("by_kind") or {}
    conflicts = int(kinds.get("conflict", 0))
    faults = int(overlap.get("failed") or 0) - conflicts
    figures = {
        "before": _brief(before),
        "overlap": _brief(overlap),
        "after": _brief(after),
        "overlap_faults": faults,
        "overlap_conflicts": conflicts,
        "corrupted_answers": sum(
            int((p.get("by_kind") or {}).get("bad_answer", 0)) for p in (overlap, after)
        ),
    }
    if not overlap.get("requests") or not before.get("requests"):
        return {"finding": "inconclusive", "evidence": None, **figures}
    if before.get("failed"):
        return {"finding": "failing", "only_on_overlap": False, "evidence": "clients", **figures}
    if faults > 0:
        broken = bool(after.get("failed"))
        return {
            "finding": "failing",
            "only_on_overlap": True,
            "broken_for_good": broken,
            "evidence": "clients",
            **figures,
        }
    word = "refusing" if conflicts else "clean"
    return {"finding": word, "evidence": "clients", **figures}


def _brief(phase: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "requests": int(phase.get("requests") or 0),
        "failed": int(phase.get("failed") or 0),
        "by_kind": dict(sorted((phase.get("by_kind") or {}).items())),
    }


def overlap_line(name: str, f: Mapping[str, Any]) -> str:
    def part(label: str, p: Mapping[str, Any]) -> str:
        kinds = ", ".join(f"{n} {k}" for k, n in (p.get("by_kind") or {}).items())
        return f"{label} {p.get('failed', 0)}/{p.get('requests', 0)} failed" + (
            f" ({kinds})" if kinds else ""
        )

    figures = "; ".join(
        part(label, f.get(key) or {})
        for label, key in (
            ("one at a time before any overlap:", "before"),
            ("overlapping:", "overlap"),
            ("one at a time after:", "after"),
        )
    )
    finding = f.get("finding")
    if finding == "inconclusive":
        return f"{name}: overlap check inconclusive (a phase never ran; {figures})"
    if finding == "failing" and f.get("only_on_overlap"):
        corrupted = int(f.get("corrupted_answers") or 0)
        if f.get("broken_for_good"):
            extra = ", and BROKEN FOR GOOD after it: the shared agent is corrupted"
        else:
            extra = "; one at a time after it, clean again: refused, not corrupted"
        if corrupted:
            plural = "s" if corrupted != 1 else ""
            extra += f"; {corrupted} corrupted answer{plural} (history != 2 x turns)"
        head = f"FAILING only when requests overlap (a shared agent raced){extra}"
    elif finding == "failing":
        head = "failing even one at a time (not an overlap hazard)"
    elif finding == "refusing":
        head = "refuses overlapping calls with 409, nothing else failed (serialised: clean)"
    else:
        head = "clean: the same turns answered soundly overlapping or not"
    server = f.get("server") or {}
    raised = ", ".join(f"{kind} {n}" for kind, n in (server.get("raised") or {}).items())
    said = f"; {server['sdk']} raised {raised or 'nothing'}" if server.get("sdk") else ""
    return f"{name}: {head} (evidence clients; {figures}{said})"
