"""`stampede serve` and `python -m stampede.server`: flags -> ServerSettings -> uvicorn.

The server's command line lives in the server layer, so a server child process (and an SDK
variant's lean venv) imports only what the server needs, never the harness. Every settings
field is one flag and one `STAMPEDE_*` variable; pydantic validates both the same way. The
harness reuses `add_settings_flags` / `settings_from` for the settings it forwards; the way
back from a ServerSettings to a child's command line is `server_argv` (settings.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

from pydantic import ValidationError
from stampede.server.sdk import SdkMissingError
from stampede.server.serve import serve
from stampede.server.settings import ServerSettings, flag_of

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


def add_settings_flags(
    parser: argparse.ArgumentParser, settings_cls: type, fields: Iterable[str] | None = None
) -> None:
    """One flag per settings field (or per one of `fields`); values go through pydantic, so
    env vars and flags agree, and a harness forwarding a field gets the server's validation."""
    wanted = set(settings_cls.model_fields if fields is None else fields)
    for name, info in settings_cls.model_fields.items():
        if name not in wanted:
            continue
        flag = flag_of(name)
        env = "STAMPEDE_" + name.upper()
        help_text = f"{info.description or ''} (env {env}, default {info.default!r})".strip()
        if info.annotation is bool:
            parser.add_argument(flag, dest=name, action="store_const", const="true", help=help_text)
        else:
            parser.add_argument(flag, dest=name, metavar="VALUE", default=None, help=help_text)


def settings_from(
    args: argparse.Namespace, settings_cls: type, prog: str, *, environment: bool = True
) -> Any:
    """The settings the flags give, over STAMPEDE_* variables (or over the defaults alone with
    environment=False, as a harness wants); a bad value exits 2 naming flag and value."""
    given = {
        name: getattr(args, name)
        for name in settings_cls.model_fields
        if getattr(args, name, None) is not None
    }
    try:
        return settings_cls(**given) if environment else settings_cls.explicit(**given)
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
