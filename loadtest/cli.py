"""`stampede`: a thin command-line shell over plain functions that tests call directly."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from pydantic import ValidationError

from loadtest.errors import UsageError
from server.settings import ServerSettings

EXIT_USAGE = 2

__all__ = ["UsageError", "main"]


def fail(prog: str, message: str) -> NoReturn:
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def validation_message(exc: ValidationError, given: dict[str, Any]) -> str:
    parts = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "value"
        flag = "--" + field.replace("_", "-")
        value = given.get(field, err.get("input"))
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{flag} {value!r}: {msg}")
    return "; ".join(parts)


def add_settings_flags(parser: argparse.ArgumentParser, settings_cls: type) -> None:
    """One flag per settings field; values go through pydantic so env vars and flags agree."""
    for name, info in settings_cls.model_fields.items():
        flag = "--" + name.replace("_", "-")
        env = "STAMPEDE_" + name.upper()
        help_text = f"{info.description or ''} (env {env}, default {info.default!r})".strip()
        if info.annotation is bool:
            parser.add_argument(flag, dest=name, action="store_const", const="true", help=help_text)
        else:
            parser.add_argument(flag, dest=name, metavar="VALUE", default=None, help=help_text)


def settings_from(args: argparse.Namespace, settings_cls: type, prog: str) -> Any:
    given = {
        name: getattr(args, name)
        for name in settings_cls.model_fields
        if getattr(args, name, None) is not None
    }
    try:
        return settings_cls(**given)
    except ValidationError as exc:
        fail(prog, validation_message(exc, given))


def cmd_serve(args: argparse.Namespace) -> int:
    from server.sdk import SdkMissingError
    from server.serve import serve

    try:
        serve(settings_from(args, ServerSettings, "stampede serve"))
    except SdkMissingError as exc:  # e.g. --agent strands without strands-agents installed
        raise UsageError(str(exc)) from None
    return 0


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
    for module in ("loadtest.bench", "loadtest.compare", "loadtest.plan_cli"):
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
