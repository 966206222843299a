"""`stampede plan` on the command line: check every value, then run the plan.

Without --target it is the built-in server's plan (wedge threshold per waiter and shape); with
--target NAME=COMMAND|URL it is the user's server's capacity plan (target_plan.py). Each
mode refuses the other's flags by name, so nothing is silently ignored.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from stampede.loadtest import flags
from stampede.loadtest.commands import HELP
from stampede.loadtest.commands.plan.plan import MIN_LATENCY_MS, PlanOptions, run_plan
from stampede.loadtest.commands.plan.target_cli import (
    TARGET_ONLY,
    add_target_plan_flags,
    check_run_id,
    cmd_target_plan,
)
from stampede.loadtest.commands.plan.target_plan import TargetPlanOptions
from stampede.loadtest.errors import UsageError
from stampede.loadtest.process.startup import add_wait_flag, exclusive_run, wait_from

D = PlanOptions()
T = TargetPlanOptions  # its class defaults: the target mode's


def _probe_latency(text: str) -> float:
    value = float(flags.setting("model_latency_ms")(text))
    if value < MIN_LATENCY_MS:  # the probes' method needs it, beyond what the server accepts
        raise flags.BadValue(text, f"must be >= {MIN_LATENCY_MS:g} for the wedge probes")
    return value


def add_flags(p: argparse.ArgumentParser) -> None:
    # Typed defaults: argparse converts only what the user gives.
    # Defaults None where the two modes differ or a flag belongs to one: filled in options_from.
    host_shapes = flags.comma_list(flags.setting("cpus"), drop_repeats=True)
    p.add_argument("--cpus", type=host_shapes, default=None, help="host shapes (1,2,4,8; "
                   "with --target 1,2,4)")  # fmt: skip
    waiters = flags.comma_list(flags.setting("waiter"), drop_repeats=True)
    p.add_argument("--waiters", type=waiters, default=None, help=",".join(D.waiters))
    p.add_argument(
        "--max-duplicates", type=flags.integer(1, 1000), default=None,
        help=f"default {D.max_duplicates}, with --target {T.max_duplicates}",
    )  # fmt: skip
    p.add_argument(
        "--model-latency-ms", type=_probe_latency, default=None,
        help=f"the probe servers' model latency (default {D.model_latency_ms:g})",
    )  # fmt: skip
    p.add_argument(
        "--model-cycles", type=flags.setting("model_cycles"), default=None,
        help=flags.setting_help("model_cycles"),
    )  # fmt: skip
    p.add_argument("--out", type=flags.out_dir, default=str(D.out), help="results directory")
    p.add_argument("--run-id", default=None, help="name of the run directory (default: dated)")
    p.add_argument(
        "--parallel", type=flags.integer(1, 8), default=None, help="wedge probes at once"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_target_plan_flags(p)


def options_from(args: argparse.Namespace) -> PlanOptions:
    """PlanOptions from parsed flags; UsageError naming a bad --run-id or a --target flag."""
    given = [flag for flag, dest in TARGET_ONLY.items() if getattr(args, dest, None) is not None]
    if given or getattr(args, "allow_remote", False):
        raise UsageError(f"{(given or ['--allow-remote'])[0]} needs --target")
    check_run_id(args)

    def pick(value: Any, default: Any) -> Any:
        return default if value is None else value

    return PlanOptions(
        cpus=pick(args.cpus, D.cpus),
        waiters=pick(args.waiters, D.waiters),
        max_duplicates=pick(args.max_duplicates, D.max_duplicates),
        model_latency_ms=pick(args.model_latency_ms, D.model_latency_ms),
        model_cycles=pick(args.model_cycles, D.model_cycles),
        out=args.out,
        run_id=args.run_id,
        parallel=pick(args.parallel, D.parallel),
        progress=not args.no_progress,
    )


def cmd_plan(args: argparse.Namespace) -> int:
    if getattr(args, "target", None):
        return cmd_target_plan(args)
    options = options_from(args)  # every value checked before a server starts
    with exclusive_run("plan", wait_from(args)):
        run_dir = run_plan(options)
    print(f"plan written to {run_dir}/plan.md (plan.json, plan.html, plots beside it)")
    if not json.loads((run_dir / "plan.json").read_text())["complete"]:
        print("plan incomplete: see the rows' errors in plan.json", file=sys.stderr)
        return 1
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("plan", help=HELP["plan"])
    add_flags(p)
    add_wait_flag(p)
    p.set_defaults(func=cmd_plan)
