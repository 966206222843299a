"""The report document model: what a report says, independent of the format it is written in.

A `Document` is a title and a sequence of blocks. Every report (compare's report.md/.html,
plan's plan.md/.html) is built as one Document and rendered by loadtest/report/markdown.py
and loadtest/report/html.py, so the Markdown and the HTML page never say different things.
All text is plain text: the renderers escape it for their format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2  # 1 is the document's title


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class BulletList:
    items: Sequence[str]


@dataclass(frozen=True)
class Callout:
    """The sentences a reader must not miss (a verdict, a recommendation), set apart."""

    items: Sequence[str]


@dataclass(frozen=True)
class Table:
    header: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class Image:
    """A PNG beside the document: linked from the Markdown, inlined into the HTML page."""

    src: str  # path relative to the document's folder, with forward slashes
    alt: str


Block = Heading | Paragraph | BulletList | Callout | Table | Image


@dataclass(frozen=True)
class Document:
    title: str
    blocks: Sequence[Block]
