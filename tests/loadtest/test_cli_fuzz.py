"""Every value-taking flag of every command, fed nan, inf, 1e308, Unicode and 300-character paths:
the command ends with exit 0, 1 or 2, says why on exactly one stderr line when it refuses (2),
never shows a traceback, and leaves nothing behind.

The flags are read from the real parser, so a flag added later is fuzzed too. The test holds the
run lock: a value that passes validation makes compare/plan/bench refuse at the lock (exit 1,
one line) before it creates a directory or starts a process, which keeps this fast and proves
the order (validate, then lock, then create). `serve` is fuzzed up to its settings, as running
a server is not what is under test here.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

import psutil
import pytest
from stampede.loadtest import cli
from stampede.loadtest.process.runlock import LOCK_ENV, run_lock
from stampede.server.cli import settings_from
from stampede.server.settings import ServerSettings

VALUES = [
    # Look-alike digits ("12" fullwidth, Arabic-Indic 3), a right-to-left override.
    "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e308", "-1e308", "1e-308", "0", "-1",
    "\uff11\uff12", "\u0663", "é", "💥", "\u202e", "", " ", "x" * 300, "/" + "d" * 300, "a/" * 150,
]  # fmt: skip


def value_flags(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """{command path: its value-taking flags}, walking nested subcommands (bench waiters)."""
    found: dict[str, list[str]] = {}

    def walk(p: argparse.ArgumentParser, path: list[str]) -> None:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, [*path, name])
        flags = [a.option_strings[0] for a in p._actions if a.option_strings and a.nargs != 0]
        if flags and path:
            found[" ".join(path)] = flags

    walk(parser, [])
    return found


PARSER = cli.build_parser(cli._commands())
FLAGS = value_flags(PARSER)
CASES = [(command, flag) for command, flags in FLAGS.items() for flag in flags]


def test_every_command_is_fuzzed() -> None:
    assert {"serve", "compare", "plan", "bench waiters"} <= FLAGS.keys()
    assert "--out" in FLAGS["compare"] and "--duration" in FLAGS["compare"]


@pytest.fixture(scope="module")
def held_lock() -> object:
    with run_lock("fuzz", path=Path(os.environ[LOCK_ENV])):
        yield


def _serve_settings(argv: list[str]) -> object:
    return settings_from(PARSER.parse_args(argv), ServerSettings, "x")


def _exit_code(call: Callable[[], object]) -> int:
    try:
        result = call()
    except SystemExit as exc:
        return int(exc.code or 0)
    return result if isinstance(result, int) else 0  # serve: settings built, it would run


@pytest.mark.parametrize(("command", "flag"), CASES, ids=[f"{c} {f}" for c, f in CASES])
def test_fuzzed_flag(
    command: str,
    flag: str,
    held_lock: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # relative --out values land here, if anywhere
    base = command.split()
    if command in ("compare", "plan"):
        base += ["--out", str(tmp_path / "results"), "--no-progress"]
    for value in VALUES:
        argv = [*base, flag, value]
        code = _exit_code(partial(_serve_settings if command == "serve" else cli.main, argv))
        err = capsys.readouterr().err
        assert code in (0, 1, 2), (argv, code, err)
        assert "Traceback" not in err, (argv, err)
        # A start may first sweep what dead runs left (another test's killed harness: the
        # suite's workers run side by side); that note is not the refusal's line.
        lines = [line for line in err.splitlines() if "removed what dead runs left" not in line]
        if code == 2:
            assert len(lines) == 1 and lines[0].startswith(("stampede", "x:")), (argv, lines)
        if code == 1:  # passed validation, then refused at the lock: nothing was started
            assert len(lines) == 1 and "holds the run lock" in lines[0], (argv, lines)
        assert list(tmp_path.iterdir()) == [], f"{argv} left files behind"
    assert psutil.Process().children(recursive=True) == []
