"""`stampede`: a thin command-line shell over plain functions that tests call directly.

Every failure is one line on stderr: a bad value exits 2 (`stampede X: error: ...`, argparse's
own errors included), a run that cannot go on (a held lock, an OSError naming its path) exits
1, and a teardown signal (INT, TERM, HUP) exits 128 + its number after the teardown. The
handlers are in place before the subcommands' modules load, so even an early Ctrl-C is quiet:
the commands are listed in commands.py, which `main` imports once the handlers are in place.
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

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


def build_parser(commands: Sequence[Callable[[Any], None]]) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="stampede",
        description="Retry-storm load testing for Python agent servers.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in commands:
        register(sub)
    return parser


def _commands() -> Sequence[Callable[[Any], None]]:
    # Here, not at the top: the commands (and the web stack, matplotlib, ...) load once the
    # teardown handlers are in place. Not an import cycle: commands.py never imports cli.
    from stampede.loadtest.commands import COMMANDS

    return COMMANDS


@functools.cache
def _parser() -> argparse.ArgumentParser:
    return build_parser(_commands())  # built once: main() may run many times in one process


def main(argv: Sequence[str] | None = None) -> int:
    prog = "stampede"
    try:
        # INT, TERM and HUP alike: every command tears down and exits with 128 + the signal.
        with interrupts_tear_down():
            args = _parser().parse_args(argv)
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
