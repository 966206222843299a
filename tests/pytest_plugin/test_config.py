"""[tool.stampede.pytest]: settings, bad values named, and allow-lists that count their hits."""

from __future__ import annotations

from pathlib import Path

import pytest
from stampede.pytest_plugin.config import AllowList, ConfigError, load, parse


def test_defaults_without_a_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    settings = load(tmp_path)
    assert (settings.enabled, settings.block_ms, settings.source) == (False, 200.0, "defaults")


def test_a_table_sets_the_checks(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.stampede.pytest]\nenabled = true\nblock_ms = 50\n"
        "[tool.stampede.pytest.allow]\ntasks = ['^keep$']\n"
    )
    settings = load(tmp_path)
    assert settings.enabled and settings.block_ms == 50
    assert settings.allow.entries == {"tasks": ("^keep$",)}


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ({"block_ms": "fast"}, "block_ms = 'fast'"),
        ({"block_ms": 0}, "block_ms = 0"),
        ({"enabled": "yes"}, "enabled = 'yes'"),
        ({"colour": 1}, "'colour': unknown setting"),
        ({"allow": {"sockets": []}}, "'sockets': unknown kind"),
        ({"allow": {"tasks": "x"}}, "tasks: must be a list of strings"),
        ({"allow": {"tasks": ["("]}}, "'(' is not a regular expression"),
    ],
)
def test_bad_values_are_named(table: dict, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(table, "pyproject.toml")
    assert named in str(caught.value)
    assert "\n" not in str(caught.value)


def test_allow_lists_match_names_and_frames_and_report_the_unused() -> None:
    allow = AllowList({"tasks": ("^heartbeat$", r"app\.py:\d+ in start"), "threads": ("^gone$",)})
    assert allow.allows("tasks", ["heartbeat", "created at x"]) == "^heartbeat$"
    assert allow.allows("tasks", ["Task-7", "/srv/app.py:12 in start"]) == r"app\.py:\d+ in start"
    assert allow.allows("tasks", ["Task-8", "/srv/app.py:12 in stop"]) is None
    assert allow.allows("threads", ["heartbeat"]) is None  # per kind
    assert allow.unused() == [("threads", "^gone$")]


def test_the_built_in_entry_is_never_reported_unused() -> None:
    allow = AllowList({})
    assert allow.allows("tasks", ["Task-1", "TestRunner._run_tests_and_fixtures"]) == "built-in"
    assert allow.unused() == []
