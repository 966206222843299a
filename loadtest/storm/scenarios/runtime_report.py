"""What the loop-block, spin and state-leak scenarios share: their readings and verdict lines.

Each of the three hazards is decided by a pure rule in loadtest/verdict/ (loop_block.py,
spin.py, leak.py) on figures this module gathers from a variant's record: the storm's samples
(the rows taken while Locust's users ran), the pings timed beside the storm and the idle
phase after it. A scenario's summary hook stores the finding under its hazard's key; its
verdict is one line per variant naming the finding, its evidence and the figures it was
decided on; its report section (detector_tables.sections_for) is a table of the same figures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def storm_rows(record: Any) -> list[dict[str, Any]]:
    """The samples taken while the storm's users ran."""
    return [r for r in record.samples if r.get("client_users")]


def with_black_box(finding: dict[str, Any], black_box: dict[str, Any]) -> dict[str, Any]:
    """An exact finding also says what the outside figures alone decided (the same storm read
    as a target without the probe would be), so one probed storm checks both detectors."""
    if finding.get("evidence") == "exact":
        finding["black_box"] = {k: black_box.get(k) for k in ("finding", "evidence", "reason")}
    return finding


def finding_line(name: str, v: dict[str, Any], key: str) -> str:
    if v.get("error"):
        return f"{name} did not run to the end: {v['error']}"
    f = v.get(key) or {}
    state = str(f.get("finding", "inconclusive"))
    shown = state.upper() if state not in ("clean", "inconclusive") else state
    evidence = f.get("evidence") or "none"
    line = f"{name} {shown} (evidence {evidence}): {f.get('reason', 'no readings')}"
    if f.get("black_box"):
        bb = f["black_box"]
        line += f" [without the probe: {bb['finding']} (evidence {bb['evidence']})]"
    return line


def verdict_for(key: str) -> Callable[[dict[str, dict[str, Any]]], list[str]]:
    def verdict(variants: dict[str, dict[str, Any]]) -> list[str]:
        return [finding_line(name, v, key) for name, v in variants.items()]

    return verdict
