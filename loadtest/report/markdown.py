"""A Document as Markdown: images linked by their relative path, tables as pipe tables."""

from __future__ import annotations

from collections.abc import Sequence

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


def to_markdown(doc: Document) -> str:
    """The document as Markdown text: blocks separated by blank lines, ending in a newline."""
    parts = [f"# {_line(doc.title)}", *(_block(block) for block in doc.blocks)]
    return "\n\n".join(part for part in parts if part) + "\n"


def _block(block: Block) -> str:
    match block:
        case Heading(text, level):
            return f"{'#' * max(1, min(level, 6))} {_line(text)}"
        case Paragraph(text):
            return text
        case BulletList(items) | Callout(items):
            return "\n".join(f"- {_line(item)}" for item in items)
        case Table(header, rows):
            return "\n".join(
                [_row(header), _row(["---"] * len(header)), *(_row(row) for row in rows)]
            )
        case Image(src, alt):
            alt = _line(alt).replace("[", "\\[").replace("]", "\\]")
            return f"![{alt}]({src})"
    raise TypeError(f"not a document block: {block!r}")


def _line(text: str) -> str:
    # A heading, list item or cell is one line in Markdown: a newline would end it early.
    return " ".join(str(text).split("\n"))


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(_line(str(c)).replace("|", "\\|") for c in cells) + " |"
