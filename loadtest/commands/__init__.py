"""Every `stampede` subcommand, in the order `stampede --help` lists them.

Each is a "module:function" that registers its subparser, so a run imports only the command it
runs: `stampede compare` never loads the server's web stack for `serve`, nor bench's contenders
(about a second per start on 2 cores, and the suite starts Stampede some fifty times). The help
line lives here once; `stampede --help` lists the others from it. Adding a command means adding
it here; a module of this package may read HELP, nothing here imports a command at import time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Command:
    name: str
    target: str  # "module:function": the function adds the subparser, its flags and its func
    help: str

    def load(self) -> Callable[[Any], None]:
        module, _, function = self.target.partition(":")
        return getattr(importlib.import_module(module), function)


_HERE = "stampede.loadtest.commands"
COMMANDS = (
    Command("serve", f"{_HERE}.serve:register", "run the agent server under test"),
    Command(
        "bench", f"{_HERE}.bench.cli:register", "benchmarks (figures as ratios, not pass/fail)"
    ),
    Command(
        "compare",
        f"{_HERE}.compare.command:register",
        "storm each variant under the same seeded load and caps; write a report",
    ),
    Command(
        "diff",
        f"{_HERE}.diff:register",
        "compare two runs' headline figures; exit 1 if B regressed against A",
    ),
    Command(
        "plan",
        f"{_HERE}.plan.plan_cli:register",
        "capacity plan: the built-in server's wedge thresholds, or with --target your "
        "server's knee, peak, USL fit, storm margin and limits per host shape",
    ),
    Command(
        "protocols",
        f"{_HERE}.protocols:register",
        "list the agent-protocol presets (A2A, MCP, AG-UI, AgentCore, ADK); show one",
    ),
    Command(
        "healthcheck",
        f"{_HERE}.healthcheck:register",
        "exit 0 if a URL answers 2xx (container healthchecks)",
    ),
)
HELP = {command.name: command.help for command in COMMANDS}
