"""The report section of the thread-limiter, slot-release and shared-agent scenarios: one table.

Each of those scenarios puts its detector's finding in a block of each variant's summary
(`thread_limiter`, `slot_release`, `shared_agent`); `detector_section` turns the blocks into a
table of variant, finding, evidence and the figures the finding rests on, so the report shows
the numbers beside the words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from stampede.loadtest.report.document import Block, Heading, Paragraph, Table

Column = tuple[str, Callable[[dict[str, Any]], Any]]


def detector_section(
    title: str, key: str, about: str, columns: Sequence[Column]
) -> Callable[[dict[str, Any]], list[Block]]:
    def sections(summary: dict[str, Any]) -> list[Block]:
        rows = []
        for name, v in (summary.get("variants") or {}).items():
            block = v.get(key)
            if not isinstance(block, dict):
                continue
            cells = [name, str(block.get("finding")), str(block.get("evidence") or "-")]
            rows.append(cells + [_cell(get(block)) for _, get in columns])
        if not rows:
            return []
        header = ["variant", "finding", "evidence", *(label for label, _ in columns)]
        return [Heading(title), Paragraph(about), Table(header, rows)]

    return sections


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
