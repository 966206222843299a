"""The report section of every detector scenario: one table of finding, evidence and figures.

Each detector scenario (thread limiter, slot release, shared agent, loop block, spin, state
leak) puts its finding in a block of each variant's summary under its hazard's key; the
section is a table of variant, finding, evidence and the figures the finding rests on, so the
report shows the numbers beside the words. `sections_for` takes the figures as one function of
the block, `detector_section` as (label, getter) columns; both build the same table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from stampede.loadtest.report.document import Block, Heading, Paragraph, Table

Column = tuple[str, Callable[[dict[str, Any]], Any]]


def sections_for(
    key: str, title: str, intro: str, header: list[str], cells: Callable[[dict[str, Any]], list]
) -> Callable[[dict[str, Any]], list[Block]]:
    """A report section: `intro`, then one row per variant: name, finding, evidence, cells."""

    def sections(summary: dict[str, Any]) -> list[Block]:
        rows = []
        for name, v in (summary.get("variants") or {}).items():
            f = v.get(key)
            if not f or not isinstance(f, dict):
                continue
            figures = [_cell(c) for c in cells(f)]
            rows.append([name, str(f.get("finding")), str(f.get("evidence") or "-"), *figures])
        if not rows:
            return []
        table = Table(["variant", "finding", "evidence", *header], rows)
        return [Heading(title), Paragraph(intro), table]

    return sections


def detector_section(
    title: str, key: str, about: str, columns: Sequence[Column]
) -> Callable[[dict[str, Any]], list[Block]]:
    """sections_for with the figures as (label, getter) columns."""
    header = [label for label, _ in columns]
    return sections_for(key, title, about, header, lambda block: [get(block) for _, get in columns])


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
