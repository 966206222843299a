"""A Document as one self-contained HTML page: inline CSS, PNGs inlined as base64 data URIs.

Nothing in the page points outside it (no stylesheet, script, font or image URL), so it can be
mailed, archived or opened offline as one file. Every text value is HTML-escaped.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape
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

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}
th{background:#f3f3f3;text-align:left}td{text-align:right}td:first-child{text-align:left}
.callout{font-size:1.15em;background:#fff4e5;border-left:4px solid #d62728;padding:.6em 2em}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}.missing{color:#d62728}
"""


def to_html(doc: Document, root: Path) -> str:
    """The page; each Image's PNG is read from `root` / its src and inlined."""
    title = escape(doc.title)
    body = "\n".join(_block(block, root) for block in doc.blocks)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n{body}\n</body></html>\n"
    )


def _block(block: Block, root: Path) -> str:
    match block:
        case Heading(text, level):
            tag = f"h{max(1, min(level, 6))}"
            return f"<{tag}>{escape(text)}</{tag}>"
        case Paragraph(text):
            return f"<p>{escape(text)}</p>"
        case BulletList(items):
            return f"<ul>{_items(items)}</ul>"
        case Callout(items):
            return f'<ul class="callout">{_items(items)}</ul>'
        case Table(header, rows):
            head = "".join(f"<th>{escape(str(c))}</th>" for c in header)
            body = "".join(
                "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>"
                for row in rows
            )
            return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        case Image(src, alt):
            return _image(root / src, alt)
    raise TypeError(f"not a document block: {block!r}")


def _items(items: Sequence[str]) -> str:
    return "".join(f"<li>{escape(str(item))}</li>" for item in items)


def _image(path: Path, alt: str) -> str:
    try:
        data = base64.b64encode(path.read_bytes()).decode()
    except OSError:
        # A figure that failed to draw must not cost the rest of the report.
        return f'<p class="missing">[figure not available: {escape(alt)}]</p>'
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'
