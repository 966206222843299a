"""The checks' settings: `[tool.stampede.pytest]` in pyproject.toml, then the command line.

    [tool.stampede.pytest]
    enabled = true          # as if --stampede were given
    block_ms = 200          # a callback that holds the loop this long is a finding
    wedge_confirm_s = 1.0   # the executor's general wedge rule must hold this long
    thread_grace_s = 0.5    # threads started by a test get this long to finish

    [tool.stampede.pytest.allow]   # per kind: regular expressions
    tasks = ["_run_tests_and_fixtures"]
    threads = ["^uvicorn-server$"]
    loop_errors = []
    blocking = []
    parked = []
    wedge = []

An allow-list entry is a regular expression searched in a finding's name (task or thread name,
loop-error kind and message), in each line of its stack ("path:line in function") and in the
test's node id ("tests/test_x.py::test_y"); a finding any entry matches is allowed. The entries
that matched nothing all session are listed at its end, so a list can shrink.

Standard library only: this module loads with the plugin.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("tasks", "threads", "loop_errors", "blocking", "parked", "wedge")

# What the test runners themselves leave behind, allowed everywhere: anyio's pytest plugin keeps
# one task per runner that receives the tests and fixtures; it lives across tests by design.
BUILT_IN: dict[str, tuple[str, ...]] = {
    "tasks": (r"^TestRunner\._run_tests_and_fixtures$",),
}


class ConfigError(ValueError):
    """A bad [tool.stampede.pytest] value, named."""


@dataclass
class AllowList:
    """Per kind, the user's patterns (counted when they match) and the built-in ones."""

    entries: dict[str, tuple[str, ...]] = field(default_factory=dict)
    hits: Counter[tuple[str, str]] = field(default_factory=Counter)
    _compiled: dict[str, list[tuple[str, re.Pattern[str]]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for kind in KINDS:
            patterns = [*BUILT_IN.get(kind, ()), *self.entries.get(kind, ())]
            self._compiled[kind] = [(p, re.compile(p)) for p in patterns]

    def allows(self, kind: str, texts: list[str]) -> str | None:
        """The entry that allows a finding of `kind` described by `texts` ("built-in" for
        one of the runners' own), or None."""
        for pattern, compiled in self._compiled.get(kind, []):
            if any(compiled.search(text) for text in texts):
                if pattern in self.entries.get(kind, ()):
                    self.hits[(kind, pattern)] += 1
                    return pattern
                return "built-in"
        return None

    def unused(self) -> list[tuple[str, str]]:
        return [
            (kind, pattern)
            for kind in KINDS
            for pattern in self.entries.get(kind, ())
            if not self.hits[(kind, pattern)]
        ]


@dataclass
class Settings:
    enabled: bool = False
    block_ms: float = 200.0
    wedge_confirm_s: float = 1.0
    thread_grace_s: float = 0.5
    allow: AllowList = field(default_factory=AllowList)
    source: str = "defaults"


def _number(table: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(
            f"[tool.stampede.pytest] {key} = {value!r}: must be a number from {low:g} to {high:g}"
        )
    return float(value)


def parse(table: dict[str, Any], source: str) -> Settings:
    """Settings from a [tool.stampede.pytest] table; ConfigError naming a bad value."""
    known = {"enabled", "block_ms", "wedge_confirm_s", "thread_grace_s", "allow"}
    for key in table:
        if key not in known:
            names = ", ".join(sorted(known))
            raise ConfigError(f"[tool.stampede.pytest] {key!r}: unknown setting (known: {names})")
    enabled = table.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ConfigError(f"[tool.stampede.pytest] enabled = {enabled!r}: must be true or false")
    allow = table.get("allow", {})
    if not isinstance(allow, dict):
        raise ConfigError("[tool.stampede.pytest] allow: must be a table of lists")
    entries: dict[str, tuple[str, ...]] = {}
    for kind, patterns in allow.items():
        if kind not in KINDS:
            raise ConfigError(
                f"[tool.stampede.pytest.allow] {kind!r}: unknown kind (known: {', '.join(KINDS)})"
            )
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise ConfigError(f"[tool.stampede.pytest.allow] {kind}: must be a list of strings")
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(
                    f"[tool.stampede.pytest.allow] {kind}: {pattern!r} is not a regular "
                    f"expression ({exc})"
                ) from None
        entries[kind] = tuple(patterns)
    return Settings(
        enabled=enabled,
        block_ms=_number(table, "block_ms", 200.0, 1, 60_000),
        wedge_confirm_s=_number(table, "wedge_confirm_s", 1.0, 0.1, 600),
        thread_grace_s=_number(table, "thread_grace_s", 0.5, 0, 60),
        allow=AllowList(entries),
        source=source,
    )


def load(rootpath: Path) -> Settings:
    """The settings in `rootpath`/pyproject.toml, or the defaults."""
    path = rootpath / "pyproject.toml"
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return Settings()
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc})") from None
    table = data.get("tool", {}).get("stampede", {}).get("pytest")
    if table is None:
        return Settings()
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.stampede.pytest] must be a table")
    return parse(table, str(path))
