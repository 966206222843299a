"""`stampede serve` and `python -m stampede.server`: flags -> ServerSettings -> uvicorn.

The server's command line lives in the server layer, so a server child process (and an SDK
variant's lean venv) imports only what the server needs, never the harness. Every settings
field is one flag and one `STAMPEDE_*` variable; pydantic validates both the same way, and the
harness reuses `add_settings_flags` / `settings_from` for the settings it forwards.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from pydantic import ValidationError
from stampede.server.sdk import SdkMissingError
from stampede.server.serve import serve
from stampede.server.settings import ServerSettings

EXIT_USAGE = 2
PROG = "stampede serve"


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


def run(settings: ServerSettings, prog: str = PROG) -> int:
    try:
        serve(settings)
    except SdkMissingError as exc:  # e.g. --agent strands without strands-agents installed
        fail(prog, str(exc))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="Run the agent server under test.")
    add_settings_flags(parser, ServerSettings)
    return run(settings_from(parser.parse_args(argv), ServerSettings, PROG))


if __name__ == "__main__":
    raise SystemExit(main())
