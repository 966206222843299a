"""Every `stampede` subcommand, in the order `stampede --help` lists them.

Each is a module (or a package's command module) with `register(subparsers)`; adding a command
means adding it here. cli.py imports this once its signal handlers are in place.
"""

from __future__ import annotations

from stampede.loadtest import diff, healthcheck_command, serve_command
from stampede.loadtest.bench import cli as bench
from stampede.loadtest.compare import command as compare
from stampede.loadtest.plan import plan_cli as plan

COMMANDS = (
    serve_command.register,
    bench.register,
    compare.register,
    diff.register,
    plan.register,
    healthcheck_command.register,
)
