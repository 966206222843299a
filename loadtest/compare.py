"""`stampede compare`: storm every variant of a scenario under the same seeded load and caps,
sample them, and leave summary.json, timeseries.csv, plots and a report in results/<run-id>/.

The whole run ends by duration x variants + 30 s whatever the target does: each variant gets a
deadline that leaves room for the variants after it (their duration plus the overhead measured
on the variants before), its teardown is cut to the run's hard end, and the report has its
reserve after that.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stampede.loadtest.compare_targets import TargetOptions
from stampede.loadtest.scenarios import Scenario, resolve
from stampede.loadtest.startup import add_wait_flag, exclusive_run, wait_from
from stampede.loadtest.users.arguments import RETRY_POLICIES

__all__ = ["RETRY_POLICIES", "CompareOptions", "run_compare"]

SLACK_S = 30.0  # the run's budget is duration x variants + SLACK_S
REPORT_RESERVE_S = 4.0  # plots and reports after the last variant (about 1.5 s for 3 variants)
# A variant's wall time beyond its duration of load: server start-up and first gc pass, Locust
# start-up and exit, teardown with its gc pass (about 3-4 s on 2 cores). Guessed only until the
# first variant has run; after that the largest measured so far, plus a margin.
OVERHEAD_GUESS_S = 6.0
TEARDOWN_GUESS_S = 3.0
MEASURED_MARGIN_S = 1.0
MIN_VARIANT_S = 2.0  # less time than this left: skip the variant rather than start a server


@dataclass(frozen=True)
class CompareOptions:
    scenario: str = "idempotency"
    variants: tuple[str, ...] = ()  # empty: all of the scenario's variants
    sdk: tuple[str, ...] = ()  # package==version each: the variants are these SDK releases
    duration_s: float = 20.0
    users: int = 8
    duplicates: int | None = None  # None: the pool size, so to_thread's waiters can fill it
    # 0: an agent per intent, so intents never collide (409s would be the storm's own doing,
    # not the server's design); N: a Zipf pool of N agents that hot intents share.
    agents: int = 0
    cpus: float = 2.0
    memory_bytes: int | None = 512 << 20
    pids: int | None = 512
    seed: int = 0
    out: Path = Path("results")
    model_latency_ms: float = 500.0
    model_cycles: int = 2
    executor_workers: int | None = None
    client_timeout_s: float = 1.5
    retry_policy: str = "full-jitter"
    max_retries: int = 3
    retry_base_s: float = 0.25
    think_time_s: float = 0.5
    grace_s: float = 3.0
    retry_budget: float = 0.2  # --retry-policy budget: retries <= this share of attempts
    arrival_rate: str = ""  # open model: "R" or "R1:R2" intents/s; "": closed model
    phases: str = ""  # "baseline=S,trigger=S,recovery=S": the load lasts their sum
    trigger: str = ""  # spike:Nx | slow-model:Nx | cpu:SHARE, during the trigger phase
    fail_on: tuple[str, ...] = ()  # gates: the run exits 1 when one fails
    targets: TargetOptions | None = None  # --target: the user's servers are the variants
    locust_workers: int = 0  # 0: one local Locust process; N: a master and N workers
    idempotency_mode: str = "throw"  # throw | replay (the server keeps answers per key)
    replay_ttl_s: float = 300.0
    stream_consume: str | None = None  # claude-agent-sdk's consumption patterns; None: all
    progress: bool | None = None  # None: a live table on a terminal, plain lines otherwise


def emulated_cpus(options: CompareOptions) -> int:
    # The server sizes its pool from a whole CPU count, as os.cpu_count() would report.
    return max(1, math.ceil(options.cpus))


def server_common(options: CompareOptions) -> dict[str, str]:
    settings = {
        "cpus": str(emulated_cpus(options)),
        "model_latency_ms": f"{options.model_latency_ms:g}",
        "model_cycles": str(options.model_cycles),
        "seed": str(options.seed),
        # The stall signal catches wedges the exact detector does not know; make it fire
        # within a few model calls rather than the server's default 10 s.
        "stall_seconds": f"{max(3.0, 4 * invocation_s(options)):g}",
    }
    if options.executor_workers is not None:
        settings["executor_workers"] = str(options.executor_workers)
    if options.idempotency_mode != "throw":  # the default; SDK releases may not know the flag
        settings["idempotency_mode"] = options.idempotency_mode
        settings["replay_ttl_s"] = f"{options.replay_ttl_s:g}"
    if options.stream_consume is not None:
        settings["stream_consume"] = options.stream_consume
    return settings


def invocation_s(options: CompareOptions) -> float:
    """How long an unhindered primary takes: its model calls, back to back."""
    return options.model_latency_ms * options.model_cycles / 1000


def pool_size(options: CompareOptions) -> int:
    from stampede.server.settings import ServerSettings

    return ServerSettings(**server_common(options)).pool_size


def storm_args(options: CompareOptions) -> dict[str, str]:
    duplicates = options.duplicates if options.duplicates is not None else pool_size(options)
    args = {
        "agents": str(options.agents),
        "duplicates": str(duplicates),
        "client_timeout": f"{options.client_timeout_s:g}",
        "retry_policy": options.retry_policy,
        "max_retries": str(options.max_retries),
        "retry_base": f"{options.retry_base_s:g}",
        "think_time": f"{options.think_time_s:g}",
        "seed": str(options.seed),
        "retry_budget": f"{options.retry_budget:g}",
        "arrival_rate": options.arrival_rate,
        "phases": options.phases,
        "trigger": options.trigger,
    }
    return {name: value for name, value in args.items() if value != ""}


def variants_of(options: CompareOptions, scenario: Scenario) -> list[str]:
    if options.targets is not None:
        return [spec.name for spec in options.targets.specs]
    return list(options.sdk) or list(options.variants) or list(scenario.variants)


def variant_settings(options: CompareOptions, scenario: Scenario, variant: str) -> dict[str, str]:
    """One variant's server setting overrides: the scenario's, or its SDK release's."""
    if options.sdk:
        from stampede.loadtest.sdk_envs import parse_spec

        return parse_spec(variant).settings
    return scenario.variants[variant]


def budget_s(options: CompareOptions, scenario: Scenario) -> float:
    return options.duration_s * len(variants_of(options, scenario)) + SLACK_S


def variant_cap(
    *, now: float, hard_end: float, later: int, duration_s: float, overhead_s: float,
    teardown_s: float, teardown_min_s: float,
) -> float:  # fmt: skip
    """When one variant's start-up and load must end (monotonic clock).

    By need: each of the `later` variants keeps its duration plus `overhead_s`, and this one
    its own teardown. Never less than an equal share of what is left, so a pessimistic overhead
    (the guess, before anything was measured) cannot starve the variant at hand; the cap only
    binds a variant that overruns, and that only squeezes the later ones, which re-plan from
    what is left. Never later than `teardown_min_s` before the hard end: the least a teardown
    needs once its waits are cut to that end.
    """
    by_need = hard_end - teardown_s - later * (duration_s + overhead_s)
    fair = now + (hard_end - now) / (later + 1)
    return min(max(by_need, fair), hard_end - teardown_min_s)


def recorded_settings(options: CompareOptions, scenario: Scenario) -> dict[str, Any]:
    record = {k: v for k, v in asdict(options).items() if k not in ("progress", "targets")}
    record["out"] = str(options.out)
    record["targets"] = options.targets.record() if options.targets else None
    record["variants"] = variants_of(options, scenario)
    return {
        **record,
        "emulated_cpus": emulated_cpus(options),
        "pool_size": pool_size(options),
        "server": server_common(options) | scenario.server_settings,
        "locust": storm_args(options) | scenario.locust_args,
        "user_classes": scenario.user_classes,
        "budget_s": budget_s(options, scenario),
        "host": {"python": platform.python_version(), "cpu_count": os.cpu_count()},
    }


def run_compare(options: CompareOptions) -> list[Path]:
    """Run every selected scenario; returns one run directory per scenario, in order.

    Raises KeyboardInterrupt after writing an incomplete summary when interrupted.
    """
    from stampede.loadtest.compare_options import check_options
    from stampede.loadtest.compare_run import run_scenario

    check_options(options)
    if options.sdk:  # every release's venv, before the run starts: a bad one is a usage error
        from stampede.loadtest.sdk_envs import prepare_for_compare

        prepare_for_compare(options.sdk)
    return [run_scenario(options, scenario) for scenario in resolve(options.scenario)]


def cmd_compare(args: argparse.Namespace) -> int:
    from stampede.loadtest.compare_options import options_from_args

    options = options_from_args(args)
    wait_s = wait_from(args)
    with exclusive_run("compare", wait_s):
        run_dirs = run_compare(options)
    failed = False
    for run_dir in run_dirs:
        summary = _load(run_dir / "summary.json")
        for line in summary.get("verdict", []):
            print(line)
        print(f"report: {run_dir / 'report.html'}")
        failed |= any(v.get("error") for v in summary.get("variants", {}).values())
        failed |= any(g.get("result") != "passed" for g in summary.get("gates", []))
    return 1 if failed else 0


def _load(path: Path) -> dict[str, Any]:
    import json

    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def register(subparsers: Any) -> None:
    from stampede.loadtest.compare_options import add_flags

    parser = subparsers.add_parser(
        "compare",
        help="storm each variant under the same seeded load and caps; write a report",
        description=__doc__,
    )
    add_flags(parser)
    add_wait_flag(parser)
    parser.set_defaults(func=cmd_compare)


if __name__ == "__main__":  # pragma: no cover - convenience: python -m loadtest.compare
    from stampede.loadtest.cli import main

    sys.exit(main(["compare", *sys.argv[1:]]))
