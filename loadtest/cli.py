"""`stampede`: a thin command-line shell over plain functions that tests call directly.

The commands, in the order `stampede --help` lists them: each module's `register` adds its
subparser. `serve` is the server layer's own command line (server/cli.py), reused here.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from stampede.loadtest import bench
from stampede.loadtest.compare import command as compare
from stampede.loadtest.errors import UsageError
from stampede.loadtest.flags import CommandParser
from stampede.loadtest.plan import plan_cli as plan
from stampede.server.cli import add_settings_flags, fail, run, settings_from
from stampede.server.settings import ServerSettings

__all__ = ["UsageError", "main"]

COMMANDS = (bench.register, compare.register, plan.register)


def cmd_serve(args: argparse.Namespace) -> int:
    return run(settings_from(args, ServerSettings, "stampede serve"))


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="stampede",
        description="Retry-storm load testing for Python agent servers.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the agent server under test")
    add_settings_flags(serve, ServerSettings)
    serve.set_defaults(func=cmd_serve)
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        fail(f"stampede {args.command}", str(exc))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
