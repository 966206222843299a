"""`stampede bench` on the command line: one subcommand per bench."""

from __future__ import annotations

from typing import Any

from stampede.loadtest.commands import HELP
from stampede.loadtest.commands.bench import server_cli, waiters_cli


def register(sub: Any) -> None:
    bench = sub.add_parser("bench", help=HELP["bench"])
    which = bench.add_subparsers(dest="bench", required=True, metavar="BENCH")
    waiters_cli.register(which)
    server_cli.register(which)
