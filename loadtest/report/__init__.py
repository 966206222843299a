"""One report engine: a small document model rendered to Markdown and to a self-contained page.

Build a `Document` (loadtest/report/document.py) and `write_document()` it: `<stem>.md` links
its images, `<stem>.html` inlines them. Compare's report (loadtest/commands/compare/report.py)
and the plan's (loadtest/commands/plan/plan_report.py) are both built this way; a new report is a
new function that returns a Document.

This package also owns what a run writes and shows: the run folder and its files (results.py,
outdir.py), the plots (plots.py) and the live progress lines (progress.py). It may import only
verdict/ (and stampede.probe's names).
"""

from __future__ import annotations

from pathlib import Path

from stampede.loadtest.report.document import (
    Block,
    BulletList,
    Callout,
    Document,
    Heading,
    Image,
    Paragraph,
    Table,
)
from stampede.loadtest.report.html import to_html
from stampede.loadtest.report.markdown import to_markdown
from stampede.loadtest.report.results import atomic_write_text


def write_document(doc: Document, folder: Path, stem: str) -> list[Path]:
    """Writes `folder/<stem>.md` and `folder/<stem>.html` (atomically); returns both paths."""
    md, page = folder / f"{stem}.md", folder / f"{stem}.html"
    atomic_write_text(md, to_markdown(doc))
    atomic_write_text(page, to_html(doc, folder))
    return [md, page]


__all__ = [
    "Block",
    "BulletList",
    "Callout",
    "Document",
    "Heading",
    "Image",
    "Paragraph",
    "Table",
    "to_html",
    "to_markdown",
    "write_document",
]
