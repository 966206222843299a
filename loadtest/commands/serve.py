"""`stampede serve`: the server layer's own flags and runner, registered in the harness CLI.

A module of its own so that `stampede compare` and friends do not import the server's web
stack (FastAPI, uvicorn) before their signal handlers are in place.
"""

from __future__ import annotations

import argparse
from typing import Any

from stampede.loadtest.commands import HELP
from stampede.server.cli import add_settings_flags, run, settings_from
from stampede.server.settings import ServerSettings


def cmd_serve(args: argparse.Namespace) -> int:
    return run(settings_from(args, ServerSettings, "stampede serve"))


def register(sub: Any) -> None:
    serve = sub.add_parser("serve", help=HELP["serve"])
    add_settings_flags(serve, ServerSettings)
    serve.set_defaults(func=cmd_serve)
