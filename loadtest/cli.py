"""`stampede`: a thin command-line shell over plain functions that tests call directly.

Every failure is one line on stderr: a bad value exits 2 (`stampede X: error: ...`, argparse's
own errors included), a run that cannot go on (a held lock, an OSError naming its path) exits
1, and a teardown signal (INT, TERM, HUP) exits 128 + its number after the teardown. The
handlers are in place before the subcommands' modules load, so even an early Ctrl-C is quiet:
the commands are "module:function" names in commands/__init__.py, and `main` loads the one it
runs once the handlers are in place.
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from stampede.loadtest.commands import COMMANDS, HELP
from stampede.loadtest.errors import HarnessError, UsageError
from stampede.loadtest.process.interrupts import exit_status, interrupts_tear_down

__all__ = ["HarnessError", "UsageError", "main"]
EXIT_FAILED = 1
EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the value (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        # argparse says "argument --duration: '-5': ..."; the flag reads better without it.
        _one_line(self.prog, re.sub(r"^argument (-[^/:\s]+)(?:/\S+)?: ", r"\1 ", message))
        raise SystemExit(EXIT_USAGE)


def build_parser(
    commands: Sequence[Callable[[Any], None]], listed: Sequence[tuple[str, str]] = ()
) -> argparse.ArgumentParser:
    """The parser with `commands` registered in full and `listed` (name, help) only named, for
    `stampede --help`; running a listed one needs a parser that registers it."""
    parser = OneLineParser(
        prog="stampede",
        description="Retry-storm load testing for Python agent servers.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in commands:
        register(sub)
    for name, help_text in listed:
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _commands() -> Sequence[Callable[[Any], None]]:
    """Every command's register function (loading every command: the CLI fuzz test's view)."""
    return [command.load() for command in COMMANDS]


@functools.cache
def _parser(chosen: str | None = None) -> argparse.ArgumentParser:
    # Built once per command: main() may run many times in one process. Only the chosen command
    # is loaded, after the teardown handlers are in place; the others are only listed.
    registered = [c.load() for c in COMMANDS if c.name == chosen]
    return build_parser(registered, [(c.name, c.help) for c in COMMANDS if c.name != chosen])


def main(argv: Sequence[str] | None = None) -> int:
    prog = "stampede"
    try:
        # INT, TERM and HUP alike: every command tears down and exits with 128 + the signal.
        with interrupts_tear_down():
            given = list(sys.argv[1:] if argv is None else argv)
            chosen = given[0] if given and given[0] in HELP else None
            args = _parser(chosen).parse_args(given)
            prog = f"stampede {args.command}"
            return int(args.func(args) or 0)
    except UsageError as exc:
        _one_line(prog, str(exc))
        raise SystemExit(EXIT_USAGE) from None
    except KeyboardInterrupt:
        return exit_status()
    except HarnessError as exc:
        return _one_line(prog, str(exc))
    except OSError as exc:  # an unwritable --out, a full disk: what failed, and where
        return _one_line(prog, _describe(exc))


def _describe(exc: OSError) -> str:
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{reason}: {' -> '.join(paths)}" if paths else reason


def _one_line(prog: str, message: str) -> int:
    print(f"{prog}: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
