"""`stampede compare`: storm every variant of a scenario under the same seeded load and caps,
sample them, and leave summary.json, timeseries.csv, plots and a report in results/<run-id>/.

Every bad value is refused, by name, before anything starts (no directory, no process, no
cgroup): each flag's converter (loadtest/flags.py) checks its own value, the server's settings
are checked by ServerSettings, and `check_options` checks the combination.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from stampede.loadtest import flags
from stampede.loadtest.commands import HELP
from stampede.loadtest.commands.compare.options import (
    FORWARDED,
    RETRY_POLICIES,
    CompareOptions,
    check_options,
    open_model_defaults,
)
from stampede.loadtest.commands.compare.run import run_compare
from stampede.loadtest.commands.compare.targets import add_target_flags, target_options
from stampede.loadtest.errors import UsageError
from stampede.loadtest.process.startup import add_wait_flag, exclusive_run, wait_from
from stampede.loadtest.storm.scenarios import ALL, SCENARIOS
from stampede.loadtest.storm.users.arrival import parse_phases, parse_rate, parse_trigger
from stampede.loadtest.targets.sdk_envs import parse_specs
from stampede.loadtest.verdict.gates import parse_gates
from stampede.server.settings import ServerSettings

D = CompareOptions()


def _sdk(text: str) -> tuple[str, ...]:
    try:
        return tuple(str(spec) for spec in parse_specs(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--sdk ")) from None


def _checked(parse: flags.Converter[Any], flag: str) -> flags.Converter[str]:
    """The text as given, once `parse` (which names flag and value) accepts it."""

    def convert(text: str) -> str:
        try:
            parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{flag} ")) from None
        return text.strip()

    return convert


def _gates(text: str) -> tuple[str, ...]:
    return tuple(gate.strip() for gate in text.split(",") if gate.strip())


# flag -> (CompareOptions field, converter, help)
FLAGS: dict[str, tuple[str, flags.Converter[Any], str]] = {
    "--scenario": (
        "scenario",
        str,
        f"{'|'.join([*SCENARIOS, ALL])}, or a comma list (default {D.scenario})",
    ),
    "--variants": (
        "variants",
        flags.comma_list(),
        "comma list of variants to run (default: all of the scenario's)",
    ),
    "--sdk": (
        "sdk",
        _sdk,
        "comma list of package==version: one variant per SDK release, each in its own cached "
        "venv (agent-client-protocol: session; claude-agent-sdk: stream; strands-agents: "
        "idempotency, or shared_agent from 1.0.0)",
    ),
    "--duration": (
        "duration_s",
        flags.duration(3600),
        f"seconds of load per variant, or e.g. 1m30s (default {D.duration_s:g})",
    ),
    "--users": ("users", flags.integer(1, 10_000), f"Locust users (default {D.users})"),
    "--duplicates": (
        "duplicates",
        flags.integer(1, 1000),
        "concurrent senders per idempotency key (default: the pool size)",
    ),
    "--agents": (
        "agents",
        flags.integer(1, 100_000),
        f"agent pool the storm draws from (default {D.agents})",
    ),
    "--cpus": (
        "cpus",
        flags.number(float, 0, 1024, open_low=True),
        f"CPU cap and emulated CPU count of each server (default {D.cpus:g})",
    ),
    "--memory": (
        "memory_bytes",
        flags.optional(flags.size),
        "memory cap of each server, e.g. 512M, 1G, or none (default 512M)",
    ),
    "--pids": (
        "pids",
        flags.optional(flags.integer(1, 4_194_304)),
        f"pids cap of each server, or none (default {D.pids})",
    ),
    "--seed": (
        "seed",
        flags.integer(-(2**63), 2**63 - 1),
        f"seed of the shared schedule and the model (default {D.seed})",
    ),
    "--out": ("out", flags.out_dir, f"results directory (default {D.out})"),
    "--client-timeout": (
        "client_timeout_s",
        flags.duration(3600),
        f"client timeout, seconds (default {D.client_timeout_s:g})",
    ),
    "--retry-policy": (
        "retry_policy",
        flags.choice(RETRY_POLICIES),
        f"{'|'.join(RETRY_POLICIES)} (default {D.retry_policy})",
    ),
    "--max-retries": (
        "max_retries",
        flags.integer(0, 100),
        f"retries per sender (default {D.max_retries})",
    ),
    "--retry-base": (
        "retry_base_s",
        flags.duration(60, open_low=False),
        f"backoff base, seconds (default {D.retry_base_s:g})",
    ),
    "--think-time": (
        "think_time_s",
        flags.duration(60, open_low=False),
        f"max seconds between a user's requests (default {D.think_time_s:g})",
    ),
    "--grace": (
        "grace_s",
        flags.duration(60, open_low=False),
        f"seconds to keep sampling after a wedge (default {D.grace_s:g})",
    ),
    "--retry-budget": (
        "retry_budget",
        flags.number(float, 0, 1, open_low=True),
        f"budget policy: retries' share of attempts (default {D.retry_budget})",
    ),
    "--arrival-rate": (
        "arrival_rate",
        _checked(parse_rate, "--arrival-rate"),
        "open model: intents/s, R or a ramp R1:R2 (default: closed model)",
    ),
    "--phases": (
        "phases",
        _checked(parse_phases, "--phases"),
        "baseline=S,trigger=S,recovery=S: one storm in three phases (sets the duration; "
        "default arrival rate half the predicted capacity)",
    ),
    "--trigger": (
        "trigger",
        _checked(parse_trigger, "--trigger"),
        "spike:Nx | slow-model:Nx | cpu:SHARE, during the trigger phase",
    ),
    "--locust-workers": (
        "locust_workers",
        flags.integer(0, 64),
        "run the storm as a Locust master and N local workers (default 0)",
    ),
    "--fail-on": (
        "fail_on",
        _gates,
        "comma list of gates, e.g. 'wedged,goodput_ratio<0.9'; exit 1 if one fails",
    ),
}


def _workload_gates(targets: Any) -> tuple[str, ...]:
    """The workload file's [gates] fail_on, checked here, naming the file on a bad one."""
    gates = tuple(g.strip() for g in targets.workload.gates.fail_on)
    try:
        parse_gates(gates)
    except ValueError as exc:
        where = f"--workload {targets.workload_file!r}: gates.fail_on"
        raise ValueError(f"{where}: {str(exc).removeprefix('--fail-on ')}") from None
    return gates


def add_flags(parser: argparse.ArgumentParser) -> None:
    for flag, (field, convert, help_text) in FLAGS.items():
        parser.add_argument(flag, dest=field, type=convert, metavar="VALUE", help=help_text)
    # The server's own settings: its defaults, help and validation (ServerSettings).
    for name in FORWARDED:
        parser.add_argument(
            "--" + name.replace("_", "-"),
            dest=f"server.{name}",
            type=flags.setting(name),
            metavar="VALUE",
            help=flags.setting_help(name),
        )
    parser.add_argument(
        "--no-progress", action="store_true", help="plain progress lines even on a terminal"
    )
    parser.add_argument(
        "--no-plots",
        action="store_true",
        help="draw no PNGs (summary.json, the CSVs and the report are written as ever)",
    )
    add_target_flags(parser)


def options_from_args(args: argparse.Namespace) -> CompareOptions:
    """CompareOptions from parsed flags; UsageError (exit 2) naming the first bad value."""
    given = {k: v for k, v in vars(args).items() if v is not None}
    values = {field: given[field] for field, _, _ in FLAGS.values() if field in given}
    server = {name: given[f"server.{name}"] for name in FORWARDED if f"server.{name}" in given}
    values["server"] = ServerSettings.explicit(**server)
    if given.get("no_progress"):
        values["progress"] = False
    if given.get("no_plots"):
        values["plots"] = False
    if values.get("sdk") and "scenario" not in values:  # the SDK's own scenario
        values["scenario"] = parse_specs(values["sdk"][0])[0].scenario
    try:
        targets = target_options(args)
        if targets is not None:
            values["targets"] = targets
            values["fail_on"] = (*values.get("fail_on", ()), *_workload_gates(targets))
        if values.get("phases") and "duration_s" in values:
            raise ValueError("--phases sets the duration (their sum): drop --duration")
        options = open_model_defaults(CompareOptions(**values))
        check_options(options)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return options


def cmd_compare(args: argparse.Namespace) -> int:
    options = options_from_args(args)
    with exclusive_run("compare", wait_from(args)):
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
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare",
        help=HELP["compare"],
        description=(__doc__ or "").split("\n\n")[0],
    )
    add_flags(parser)
    add_wait_flag(parser)
    parser.set_defaults(func=cmd_compare)
