"""`stampede plan --target NAME=COMMAND|URL` on the command line: its flags and their checks.

Every value is checked before a target starts; a bad one is one line naming it. Flags of the
built-in plan (--waiters, --model-latency-ms, --model-cycles, --parallel) are refused with
--target, and these flags without it (plan_cli.py), so nothing is silently ignored.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from stampede.loadtest import flags
from stampede.loadtest.commands.plan.plan import RUN_ID_RE
from stampede.loadtest.commands.plan.target_plan import TargetPlanOptions, run_target_plan
from stampede.loadtest.errors import UsageError
from stampede.loadtest.process.startup import exclusive_run, wait_from
from stampede.loadtest.storm.users.workload import WorkloadError, load_workload
from stampede.loadtest.targets.spec import check_health_path, parse_target
from stampede.loadtest.verdict.gates import parse_gates

T = TargetPlanOptions
TARGET_ONLY = {
    "--workload": "workload",
    "--health-path": "health_path",
    "--memory": "memory",
    "--slo-p99-ms": "slo_p99_ms",
    "--max-concurrency": "max_concurrency",
    "--target-rate": "target_rate",
    "--step-seconds": "step_seconds",
    "--fail-on": "fail_on",
}
BUILTIN_ONLY = {
    "--waiters": "waiters",
    "--model-latency-ms": "model_latency_ms",
    "--model-cycles": "model_cycles",
    "--parallel": "parallel",
}


def add_target_plan_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--target", action="append", metavar="NAME=COMMAND|URL",
        help='plan your own server: a start command with {port} (and optionally {cpus}), '
        'e.g. mine="uvicorn app:app --port {port} --workers {cpus}", or a running one, '
        "mine=http://127.0.0.1:8000 (one shape: the one it has)",
    )  # fmt: skip
    p.add_argument("--allow-remote", action="store_true", help="let a --target URL be remote")
    p.add_argument("--workload", metavar="FILE.toml", help="how the target's API looks")
    p.add_argument("--health-path", metavar="PATH", help="default /healthz (404/405: TCP up)")
    p.add_argument(
        "--memory", type=flags.parse_memory, metavar="SIZE",
        help=f"each shape's memory cap (default {T.memory_bytes >> 20}MiB)",
    )  # fmt: skip
    p.add_argument(
        "--slo-p99-ms", type=flags.number(float, 1, 600_000), metavar="MS",
        help=f"the latency SLO the limit keeps (default {T.slo_p99_ms:g})",
    )  # fmt: skip
    p.add_argument(
        "--max-concurrency", type=flags.integer(1, 4096), metavar="N",
        help=f"the ladder's top (default {T.max_concurrency})",
    )  # fmt: skip
    p.add_argument(
        "--target-rate", type=flags.number(float, 0, 1e7, open_low=True), metavar="R",
        help="intents/s to size replicas for (Little's law)",
    )  # fmt: skip
    p.add_argument(
        "--step-seconds", type=flags.number(float, 0.2, 60), metavar="S",
        help=f"each ladder step's measuring window (default {T.step_s:g})",
    )  # fmt: skip
    p.add_argument(
        "--fail-on", action="append", metavar="GATES",
        help="exit 1 when a gate fails, e.g. knee_concurrency<32,storm_margin_duplicates<8",
    )  # fmt: skip


def check_run_id(args: argparse.Namespace) -> None:
    """UsageError naming a bad or taken --run-id."""
    out: Path = args.out
    if args.run_id is not None:
        if not RUN_ID_RE.match(args.run_id):
            raise UsageError(f"--run-id {args.run_id!r}: use letters, digits, '.', '_', '-'")
        if (out / args.run_id).exists():
            raise UsageError(f"--run-id {args.run_id!r}: {out / args.run_id} already exists")


def target_options_from(args: argparse.Namespace) -> TargetPlanOptions:
    """TargetPlanOptions from parsed flags; UsageError naming the first bad value."""
    if len(args.target) > 1:
        raise UsageError("--target: a plan has one target (repeat the plan for another)")
    given = [flag for flag, dest in BUILTIN_ONLY.items() if getattr(args, dest) is not None]
    if given:
        raise UsageError(f"{given[0]} is the built-in server's plan: drop it with --target")
    check_run_id(args)
    try:
        spec = parse_target(args.target[0], bool(args.allow_remote))
        values: dict[str, Any] = {"target": spec}
        if args.health_path is not None:
            values["health_path"] = check_health_path(args.health_path)
        if args.workload is not None:
            values["workload"] = load_workload(Path(args.workload))
            values["workload_file"] = args.workload
        gates = parse_gates(args.fail_on or [])
    except (ValueError, WorkloadError) as exc:
        raise UsageError(str(exc)) from None
    if spec.kind == "url" and args.cpus is not None:
        raise UsageError("--cpus: a URL target runs as its owner started it (one shape)")
    if spec.kind == "url" and args.memory is not None:
        raise UsageError("--memory: a URL target runs as its owner started it (no caps)")
    pairs = {
        "cpus": args.cpus,
        "memory_bytes": args.memory,
        "slo_p99_ms": args.slo_p99_ms,
        "max_concurrency": args.max_concurrency,
        "max_duplicates": args.max_duplicates,
        "target_rate": args.target_rate,
        "step_s": args.step_seconds,
    }
    values.update({k: v for k, v in pairs.items() if v is not None})
    return TargetPlanOptions(
        **values,
        fail_on=tuple(g.text if not g.variant else f"{g.variant}:{g.text}" for g in gates),
        out=args.out,
        run_id=args.run_id,
        progress=not args.no_progress,
    )


def cmd_target_plan(args: argparse.Namespace) -> int:
    options = target_options_from(args)  # every value checked before a target starts
    with exclusive_run("plan", wait_from(args)):
        run_dir = run_target_plan(options)
    print(f"plan written to {run_dir}/plan.md (plan.json, plan.html, plots beside it)")
    return exit_code(json.loads((run_dir / "plan.json").read_text()))


def exit_code(plan: dict[str, Any]) -> int:
    """1 when a gate failed (or could not be measured) or the plan is incomplete; says which."""
    failed = [g for g in plan["gates"] if g["result"] != "passed"]
    for g in failed:
        shown = "unknown" if g["value"] is None else g["value"]
        print(f"gate failed: {g['variant']}: {g['gate']} (measured {shown})", file=sys.stderr)
    if not plan["complete"]:
        print("plan incomplete: see the shapes' errors in plan.json", file=sys.stderr)
    return 1 if failed or not plan["complete"] else 0
