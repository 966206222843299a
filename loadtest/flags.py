"""Type converters for the harness's flags, written once and shared by compare, plan and bench.

Each converter is an argparse `type=`: it takes the flag's text and returns the value, or raises
`argparse.ArgumentTypeError` naming the text, which the CLI's parser prints as one line and exit
2, e.g. `stampede compare: error: --duration '-5': must be > 0 and <= 3600`. A flag forwarded to
the server (`setting("model_latency_ms")`) is checked by ServerSettings itself, so it has one
default and one validation wherever it is given.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from stampede.loadtest.report.outdir import check_out_dir
from stampede.server.settings import ServerSettings

T = TypeVar("T")
Converter = Callable[[str], T]
NONE_WORDS = ("none", "off", "unlimited")
_UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SPAN = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|h|m|s)")
_MEMORY_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_MEMORY_RE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:([kmgt])(?:i?b)?|b)?\s*", re.IGNORECASE)


class BadValue(argparse.ArgumentTypeError):
    """A value a converter refuses: str() is "'text': reason"."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"{text!r}: {reason}")
        self.text, self.reason = text, reason


def number(
    kind: type = float, low: float = -math.inf, high: float = math.inf, *, open_low: bool = False
) -> Converter[Any]:
    """An int or float within [low, high] (or (low, high] with open_low)."""

    def convert(text: str) -> Any:
        try:
            if not text.isascii():  # int() and float() take look-alike digits such as "٣"
                raise ValueError(text)
            value = kind(text)
        except (TypeError, ValueError):
            raise BadValue(text, "not an integer" if kind is int else "not a number") from None
        if not math.isfinite(value) or value > high or value < low or (open_low and value == low):
            bound = f"> {low:g}" if open_low else f">= {low:g}"
            raise BadValue(text, f"must be {bound} and <= {high:g}")
        return value

    convert.__name__ = kind.__name__
    return convert


def integer(low: int, high: int) -> Converter[int]:
    return number(int, low, high)


def duration(high: float, *, low: float = 0.0, open_low: bool = True) -> Converter[float]:
    """Seconds: "20", "2.5", or with units like locust's timespan: "500ms", "1m30s", "1h"."""
    check = number(float, low, high, open_low=open_low)

    def convert(text: str) -> float:
        spans = _SPAN.findall(text.strip().lower())
        if spans and "".join(a + b for a, b in spans) == text.strip().lower():
            text_s = f"{sum(float(n) * _UNITS_S[unit] for n, unit in spans):g}"
            try:
                return float(check(text_s))
            except BadValue as exc:
                raise BadValue(text, exc.reason) from None
        return float(check(text))

    return convert


def size(text: str) -> int:
    """Bytes from "512M", "1G", "64k" or "1048576" (binary units, like docker's)."""
    try:
        return parse_memory(text)
    except ValueError as exc:
        raise BadValue(text, str(exc)) from None


def out_dir(text: str) -> Path:
    """A results directory that can be created and written (nothing is created yet)."""
    try:
        return check_out_dir("--out", text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--out ")) from None


def optional(convert: Converter[T]) -> Converter[T | None]:
    """None for "none", "off" or "unlimited"; otherwise `convert`."""

    def maybe(text: str) -> T | None:
        return None if text.strip().lower() in NONE_WORDS else convert(text)

    return maybe


def choice(options: Iterable[str]) -> Converter[str]:
    known = tuple(options)

    def convert(text: str) -> str:
        if text not in known:
            raise BadValue(text, f"must be one of {', '.join(known)}")
        return text

    return convert


def comma_list(
    item: Converter[T] = str,  # type: ignore[assignment]
    *,
    drop_repeats: bool = False,
) -> Converter[tuple[T, ...]]:
    """A comma list of items, each converted; an empty item is refused, and a repeated one too
    unless `drop_repeats` (then the first of each is kept, in order)."""

    def convert(text: str) -> tuple[T, ...]:
        parts = [part.strip() for part in text.split(",")]
        if "" in parts:
            raise BadValue(text, "empty item in the comma list")
        if drop_repeats:
            parts = list(dict.fromkeys(parts))
        elif len(set(parts)) != len(parts):
            raise BadValue(text, "an item is repeated")
        try:
            return tuple(item(part) for part in parts)
        except BadValue as exc:
            raise BadValue(text, f"item {exc.text!r}: {exc.reason}") from None
        except argparse.ArgumentTypeError as exc:
            raise BadValue(text, str(exc)) from None

    return convert


def setting(field: str) -> Converter[Any]:
    """A value for one ServerSettings field, checked by ServerSettings (one validation)."""
    if field not in ServerSettings.model_fields:
        raise KeyError(field)

    def convert(text: str) -> Any:
        try:
            return getattr(ServerSettings.explicit(**{field: text}), field)
        except ValidationError as exc:
            reason = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
            raise BadValue(text, reason) from None

    convert.__name__ = field
    return convert


def setting_help(field: str, default: Any = None) -> str:
    """The server's own help text for a forwarded field, with its default (or the command's)."""
    info = ServerSettings.model_fields[field]
    value = info.default if default is None else default
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{info.description} (default {shown})"


def parse_memory(text: str) -> int:
    """Bytes from "512M", "1G", "1.5GiB", "64k" or "1048576"; units are binary, like docker's."""
    match = _MEMORY_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"invalid memory size {text!r} (use e.g. 512M, 1G)")
    n = int(Decimal(match[1]) * _MEMORY_UNITS[(match[2] or "").lower()])
    if n <= 0:
        raise ValueError(f"invalid memory size {text!r}: must be > 0")
    return n
