"""Every `stampede` subcommand, in the order `stampede --help` lists them.

Each is a module (or a package's command module) with `register(subparsers)`; adding a command
means adding it here. cli.py imports this once its signal handlers are in place.
"""

from __future__ import annotations

from stampede.loadtest.commands import diff, protocols, serve
from stampede.loadtest.commands.bench import cli as bench
from stampede.loadtest.commands.compare import command as compare
from stampede.loadtest.commands.plan import plan_cli as plan

COMMANDS = (
    serve.register,
    bench.register,
    compare.register,
    diff.register,
    plan.register,
    protocols.register,
)
