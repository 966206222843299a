"""`stampede`: a thin command-line shell over plain functions that tests call directly."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from stampede.loadtest.errors import UsageError
from stampede.server.cli import add_settings_flags, fail, run, settings_from
from stampede.server.settings import ServerSettings

__all__ = ["UsageError", "main"]


def cmd_serve(args: argparse.Namespace) -> int:
    return run(settings_from(args, ServerSettings, "stampede serve"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stampede",
        description="Retry-storm load testing for Python agent servers.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the agent server under test")
    add_settings_flags(serve, ServerSettings)
    serve.set_defaults(func=cmd_serve)
    for register in EXTRA_COMMANDS:
        register(sub)
    return parser


# Subcommands living in their own modules register here (compare, bench, plan, ...).
EXTRA_COMMANDS: list[Callable[[Any], None]] = []


def _load_extra_commands() -> None:
    import importlib

    if EXTRA_COMMANDS:
        return
    for module in (
        "stampede.loadtest.bench",
        "stampede.loadtest.compare",
        "stampede.loadtest.diff",
        "stampede.loadtest.plan_cli",
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        EXTRA_COMMANDS.append(mod.register)


def main(argv: Sequence[str] | None = None) -> int:
    _load_extra_commands()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        fail(f"stampede {args.command}", str(exc))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
