"""The HTML renderer: one self-contained page, every text value escaped, PNGs inlined."""

from __future__ import annotations

import base64
import re
import struct
import zlib
from pathlib import Path

import pytest
from stampede.loadtest.report import (
    BulletList,
    Callout,
    Document,
    Heading,
    Image,
    Paragraph,
    Table,
    to_html,
    write_document,
)

EVIL = "<script>alert('x')</script> & \"q\""


def tiny_png() -> bytes:
    """A valid 1x1 PNG, written by hand so the test needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def test_every_text_value_is_escaped(tmp_path: Path) -> None:
    doc = Document(
        EVIL,
        [
            Heading(EVIL),
            Paragraph(EVIL),
            BulletList([EVIL]),
            Callout([EVIL]),
            Table([EVIL], [[EVIL]]),
            Image("missing.png", EVIL),
        ],
    )
    page = to_html(doc, tmp_path)
    assert "<script>" not in page and "alert('x')" not in page
    escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;q&quot;"
    # title, h1, h2, p, li, callout li, th, td, and the missing figure's note
    assert page.count(escaped) == 9


def test_figures_are_inlined_and_nothing_points_outside(tmp_path: Path) -> None:
    png = tiny_png()
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "a.png").write_bytes(png)
    doc = Document("t", [Image("plots/a.png", "first"), Image("plots/gone.png", "second")])
    page = to_html(doc, tmp_path)
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 1 and sources[0].startswith("data:image/png;base64,")
    assert base64.b64decode(sources[0].split(",", 1)[1]) == png
    assert 'alt="first"' in page
    # A figure that failed to draw leaves a note, not a broken link or a lost report.
    assert "[figure not available: second]" in page and "gone.png" not in page
    assert not re.search(r"https?:|//|<link|<script|url\(", page.replace("<!DOCTYPE", ""))


def test_tables_keep_header_rows_and_cell_order(tmp_path: Path) -> None:
    page = to_html(
        Document("t", [Table(["", "a", "b"], [["x", "1", "2"], ["y", "3", "4"]])]), tmp_path
    )
    table = re.search(r"<table>.*</table>", page, re.S)
    assert table is not None
    assert re.findall(r"<th>(.*?)</th>", table.group()) == ["", "a", "b"]
    rows = re.findall(r"<tr>(.*?)</tr>", table.group().split("<tbody>", 1)[1])
    assert [re.findall(r"<td>(.*?)</td>", r) for r in rows] == [["x", "1", "2"], ["y", "3", "4"]]


def test_headings_lists_and_callouts(tmp_path: Path) -> None:
    doc = Document("T", [Heading("Sub", 3), BulletList(["a", "b"]), Callout(["verdict"])])
    page = to_html(doc, tmp_path)
    assert "<h1>T</h1>" in page and "<h3>Sub</h3>" in page
    assert "<ul><li>a</li><li>b</li></ul>" in page
    assert '<ul class="callout"><li>verdict</li></ul>' in page
    with pytest.raises(TypeError, match="not a document block"):
        to_html(Document("T", ["just a string"]), tmp_path)  # type: ignore[list-item]


def test_write_document_writes_both_formats(tmp_path: Path) -> None:
    (tmp_path / "p.png").write_bytes(tiny_png())
    md, page = write_document(Document("T", [Image("p.png", "p")]), tmp_path, "report")
    assert (md.name, page.name) == ("report.md", "report.html")
    assert "![p](p.png)" in md.read_text() and "base64," in page.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png", "report.html", "report.md"]
