"""`stampede plan` on the command line: check every value, then run the plan."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from stampede.loadtest.errors import UsageError
from stampede.loadtest.outdir import check_out_dir
from stampede.loadtest.plan import RUN_ID_RE, PlanOptions, run_plan
from stampede.loadtest.startup import add_wait_flag, exclusive_run, wait_from
from stampede.server.waiters import WAITERS


def _int_list(flag: str, text: str, lo: int, hi: int) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise UsageError(f"{flag} {text!r}: expected comma-separated integers") from None
    for value in values:
        if not lo <= value <= hi:
            raise UsageError(f"{flag} {text!r}: {value} is outside {lo}..{hi}")
    return tuple(dict.fromkeys(values))


def _number(flag: str, text: str, lo: float, hi: float, kind: type = int) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise UsageError(f"{flag} {text!r}: expected {kind.__name__}") from None
    if not lo <= value <= hi:
        raise UsageError(f"{flag} {text!r}: must be between {lo:g} and {hi:g}")
    return value


def options_from(args: argparse.Namespace) -> PlanOptions:
    waiters = tuple(dict.fromkeys(w.strip() for w in args.waiters.split(",")))
    for waiter in waiters:
        if waiter not in WAITERS:
            raise UsageError(
                f"--waiters {args.waiters!r}: unknown waiter {waiter!r} (choose from "
                f"{', '.join(WAITERS)})"
            )
    try:
        out = check_out_dir("--out", args.out)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.run_id is not None:
        if not RUN_ID_RE.match(args.run_id):
            raise UsageError(f"--run-id {args.run_id!r}: use letters, digits, '.', '_', '-'")
        if (out / args.run_id).exists():
            raise UsageError(f"--run-id {args.run_id!r}: {out / args.run_id} already exists")
    return PlanOptions(
        cpus=_int_list("--cpus", args.cpus, 1, 1024),
        waiters=waiters,
        max_duplicates=_number("--max-duplicates", args.max_duplicates, 1, 1000),
        model_latency_ms=_number("--model-latency-ms", args.model_latency_ms, 50, 10_000, float),
        model_cycles=_number("--model-cycles", args.model_cycles, 1, 10),
        out=out,
        run_id=args.run_id,
        parallel=_number("--parallel", args.parallel, 1, 8),
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
    p = sub.add_parser("plan", help="capacity plan: wedge threshold and head-of-line cost")
    default = PlanOptions()
    p.add_argument("--cpus", default=",".join(map(str, default.cpus)), help="host shapes")
    p.add_argument("--waiters", default=",".join(default.waiters))
    p.add_argument("--max-duplicates", default=str(default.max_duplicates))
    p.add_argument("--model-latency-ms", default=f"{default.model_latency_ms:g}")
    p.add_argument("--model-cycles", default=str(default.model_cycles))
    p.add_argument("--out", default=str(default.out), help="results directory")
    p.add_argument("--run-id", default=None, help="name of the run directory (default: dated)")
    p.add_argument("--parallel", default=str(default.parallel), help="wedge probes at once")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_wait_flag(p)
    p.set_defaults(func=cmd_plan)
