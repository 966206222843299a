"""The Markdown renderer: pipe tables that survive any cell, images linked by relative path."""

from __future__ import annotations

import pytest
from stampede.loadtest.report import (
    BulletList,
    Callout,
    Document,
    Heading,
    Image,
    Paragraph,
    Table,
    to_markdown,
)


def test_blocks_in_order_separated_by_blank_lines() -> None:
    doc = Document(
        "Title",
        [
            Paragraph("Some text."),
            Heading("Verdict"),
            Callout(["one", "two"]),
            Heading("Deeper", 3),
            BulletList(["note"]),
        ],
    )
    assert to_markdown(doc) == (
        "# Title\n\nSome text.\n\n## Verdict\n\n- one\n- two\n\n### Deeper\n\n- note\n"
    )


def test_tables_escape_pipes_and_keep_one_line_per_row() -> None:
    table = Table(["", "a|b"], [["x", "1 | 2"], ["multi\nline", 3]])  # type: ignore[list-item]
    assert to_markdown(Document("T", [table])).split("\n\n", 1)[1] == (
        "|  | a\\|b |\n| --- | --- |\n| x | 1 \\| 2 |\n| multi line | 3 |\n"
    )


def test_images_link_their_relative_path() -> None:
    md = to_markdown(Document("T", [Image("plots/threads.png", "threads [pool]")]))
    assert md.endswith("\n\n![threads \\[pool\\]](plots/threads.png)\n")


def test_unknown_blocks_are_refused() -> None:
    with pytest.raises(TypeError, match="not a document block"):
        to_markdown(Document("T", [42]))  # type: ignore[list-item]
