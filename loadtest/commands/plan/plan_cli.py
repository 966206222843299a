"""`stampede plan` on the command line: check every value, then run the plan."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from stampede.loadtest import flags
from stampede.loadtest.commands import HELP
from stampede.loadtest.commands.plan.plan import MIN_LATENCY_MS, RUN_ID_RE, PlanOptions, run_plan
from stampede.loadtest.errors import UsageError
from stampede.loadtest.process.startup import add_wait_flag, exclusive_run, wait_from

D = PlanOptions()


def _probe_latency(text: str) -> float:
    value = float(flags.setting("model_latency_ms")(text))
    if value < MIN_LATENCY_MS:  # the probes' method needs it, beyond what the server accepts
        raise flags.BadValue(text, f"must be >= {MIN_LATENCY_MS:g} for the wedge probes")
    return value


def add_flags(p: argparse.ArgumentParser) -> None:
    # Typed defaults: argparse converts only what the user gives.
    host_shapes = flags.comma_list(flags.setting("cpus"), drop_repeats=True)
    p.add_argument("--cpus", type=host_shapes, default=D.cpus, help="host shapes (1,2,4,8)")
    waiters = flags.comma_list(flags.setting("waiter"), drop_repeats=True)
    p.add_argument("--waiters", type=waiters, default=D.waiters, help=",".join(D.waiters))
    p.add_argument("--max-duplicates", type=flags.integer(1, 1000), default=D.max_duplicates)
    p.add_argument(
        "--model-latency-ms", type=_probe_latency, default=D.model_latency_ms,
        help=f"the probe servers' model latency (default {D.model_latency_ms:g})",
    )  # fmt: skip
    p.add_argument(
        "--model-cycles", type=flags.setting("model_cycles"), default=D.model_cycles,
        help=flags.setting_help("model_cycles"),
    )  # fmt: skip
    p.add_argument("--out", type=flags.out_dir, default=str(D.out), help="results directory")
    p.add_argument("--run-id", default=None, help="name of the run directory (default: dated)")
    p.add_argument(
        "--parallel", type=flags.integer(1, 8), default=D.parallel, help="wedge probes at once"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def options_from(args: argparse.Namespace) -> PlanOptions:
    """PlanOptions from parsed flags; UsageError naming a bad --run-id."""
    out: Path = args.out
    if args.run_id is not None:
        if not RUN_ID_RE.match(args.run_id):
            raise UsageError(f"--run-id {args.run_id!r}: use letters, digits, '.', '_', '-'")
        if (out / args.run_id).exists():
            raise UsageError(f"--run-id {args.run_id!r}: {out / args.run_id} already exists")
    return PlanOptions(
        cpus=args.cpus,
        waiters=args.waiters,
        max_duplicates=args.max_duplicates,
        model_latency_ms=args.model_latency_ms,
        model_cycles=args.model_cycles,
        out=out,
        run_id=args.run_id,
        parallel=args.parallel,
        progress=not args.no_progress,
    )


def cmd_plan(args: argparse.Namespace) -> int:
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
