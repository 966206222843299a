"""What one `stampede compare` run is: its options, and what they make of each variant's server
(one ServerSettings per variant) and of the storm (Locust's custom arguments).

The server's own settings travel in `CompareOptions.server`, a ServerSettings built from the
flags with the server's defaults and validation; `server_settings()` adds what compare derives
(the emulated CPUs, the seed, a quicker stall signal) and the scenario's and variant's
overrides, and the launcher turns the result into the child's command line.
"""

from __future__ import annotations

import importlib.util
import math
import os
import platform
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from stampede.loadtest.commands.compare.budget import budget_s
from stampede.loadtest.commands.compare.targets import TargetOptions, check_targets
from stampede.loadtest.report.outdir import check_out_dir
from stampede.loadtest.storm.scenarios import Scenario, resolve
from stampede.loadtest.storm.users.arguments import RETRY_POLICIES
from stampede.loadtest.storm.users.arrival import parse_phases, parse_rate, parse_trigger, total_s
from stampede.loadtest.targets.sdk_envs import check_scenario, parse_spec, parse_specs
from stampede.loadtest.verdict.gates import parse_gates
from stampede.server.settings import ServerSettings, settings_flags

# The server settings compare forwards as flags of its own, with the server's defaults and
# validation. idempotency_mode, replay_ttl_s and stream_consume reach the server only when
# given: an SDK release's server may not know them.
FORWARDED = (
    "model_latency_ms",
    "model_cycles",
    "executor_workers",
    "idempotency_mode",
    "replay_ttl_s",
    "stream_consume",
)


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
    cpus: float = 2.0  # the CPU cap, and (rounded up) the emulated host the pool is sized from
    memory_bytes: int | None = 512 << 20
    pids: int | None = 512
    seed: int = 0  # the storm's schedule and the server's model alike
    out: Path = Path("results")
    server: ServerSettings = field(default_factory=ServerSettings.explicit)
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
    progress: bool | None = None  # None: a live table on a terminal, plain lines otherwise
    plots: bool = True  # --no-plots: a gate-only CI step skips matplotlib's seconds per figure


def emulated_cpus(options: CompareOptions) -> int:
    # The server sizes its pool from a whole CPU count, as os.cpu_count() would report.
    return max(1, math.ceil(options.cpus))


def invocation_s(options: CompareOptions) -> float:
    """How long an unhindered primary takes: its model calls, back to back."""
    return options.server.model_latency_ms * options.server.model_cycles / 1000


def common_settings(options: CompareOptions) -> ServerSettings:
    """Every variant's server settings before the scenario's and the variant's overrides."""
    server = options.server
    return server.merged(
        # Named even at their defaults, so the summary and the server's argv say them.
        model_latency_ms=server.model_latency_ms,
        model_cycles=server.model_cycles,
        cpus=emulated_cpus(options),
        seed=options.seed,
        # The stall signal catches wedges the exact detector does not know; make it fire
        # within a few model calls rather than the server's default 10 s.
        stall_seconds=max(3.0, 4 * invocation_s(options)),
    )


def server_settings(options: CompareOptions, scenario: Scenario, variant: str) -> ServerSettings:
    """One variant's server: the common settings, the scenario's, then the variant's (or its
    SDK release's). Raises pydantic's ValidationError for a bad combination."""
    if options.sdk:
        overrides = parse_spec(variant).settings_for(scenario.name)
    else:
        overrides = scenario.variants[variant]
    return common_settings(options).merged(**scenario.server_settings, **overrides)


def pool_size(options: CompareOptions) -> int:
    return common_settings(options).pool_size


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


def run_budget_s(options: CompareOptions, scenario: Scenario) -> float:
    # A scenario's idle phase (after each variant's storm) is part of each variant's time.
    per_variant = options.duration_s + scenario.idle_s
    return budget_s(per_variant, len(variants_of(options, scenario)))


def recorded_settings(options: CompareOptions, scenario: Scenario) -> dict[str, Any]:
    """summary.json's `settings`: the options, flat as the flags name them, and what follows."""
    skip = ("progress", "plots", "server", "targets")
    record = {k: v for k, v in asdict(options).items() if k not in skip}
    record |= {name: getattr(options.server, name) for name in FORWARDED}
    record["out"] = str(options.out)
    record["targets"] = options.targets.record() if options.targets else None
    record["variants"] = variants_of(options, scenario)
    common = common_settings(options).merged(**scenario.server_settings)
    builtin: dict[str, Any] = {"pool_size": pool_size(options), "server": settings_flags(common)}
    if options.targets:
        # The user's own servers: the built-in server's settings do not apply to them.
        builtin = {}
        for name in FORWARDED:
            record.pop(name, None)
    return {
        **record,
        "emulated_cpus": emulated_cpus(options),
        **builtin,
        "locust": storm_args(options) | scenario.locust_args,
        "user_classes": scenario.user_classes,
        "budget_s": run_budget_s(options, scenario),
        "host": {"python": platform.python_version(), "cpu_count": os.cpu_count()},
    }


def check_options(options: CompareOptions) -> None:
    """Cross-field checks (ValueError naming the value), run before anything starts."""
    scenarios = resolve(options.scenario)  # ValueError naming an unknown scenario
    if options.variants:
        if len(set(options.variants)) != len(options.variants) or "" in options.variants:
            raise ValueError(f"--variants {','.join(options.variants)!r}: empty or repeated name")
        for scenario in scenarios:
            for name in options.variants:
                if name not in scenario.variants:
                    known = ", ".join(scenario.variants)
                    raise ValueError(
                        f"unknown variant {name!r} for scenario {scenario.name} (known: {known})"
                    )
    if options.sdk:
        _check_sdk(options, scenarios)
    if options.targets is not None:
        check_targets(options.targets, options.variants, options.sdk)
    if "stream_consume" in options.server.model_fields_set and not _serves_consume(options):
        raise ValueError(
            f"--stream-consume {options.server.stream_consume!r}: the patterns are "
            "claude-agent-sdk's; use it with --sdk claude-agent-sdk==A,claude-agent-sdk==B"
        )
    if options.retry_policy not in RETRY_POLICIES:
        raise ValueError(
            f"--retry-policy {options.retry_policy!r}: must be one of {', '.join(RETRY_POLICIES)}"
        )
    parse_gates(options.fail_on)
    _check_phases(options)
    check_out_dir("--out", str(options.out))
    for scenario in scenarios if options.targets is None else ():
        for variant in variants_of(options, scenario):
            _check_server(options, scenario, variant)
    if importlib.util.find_spec("locust") is None:
        raise ValueError("locust is not installed in this environment")


def _check_sdk(options: CompareOptions, scenarios: list[Scenario]) -> None:
    if options.variants:
        raise ValueError("--sdk and --variants both name the variants: give one of them")
    if len(scenarios) != 1:
        raise ValueError(f"--sdk needs one --scenario, not {options.scenario!r}")
    check_scenario(parse_specs(",".join(options.sdk)), scenarios[0].name)


def _serves_consume(options: CompareOptions) -> bool:
    return bool(options.sdk) and all(spec.startswith("claude-agent-sdk==") for spec in options.sdk)


def _check_server(options: CompareOptions, scenario: Scenario, variant: str) -> None:
    try:
        server_settings(options, scenario, variant)
    except ValidationError as exc:
        problem = exc.errors()[0]
        name = str(problem["loc"][0]) if problem["loc"] else "setting"
        raise ValueError(
            f"server setting {name}={problem.get('input')!r} for variant {variant}: "
            f"{str(problem['msg']).removeprefix('Value error, ')}"
        ) from None


def open_model_defaults(options: CompareOptions) -> CompareOptions:
    """--phases sets the duration (their sum) and, without --arrival-rate, an open-model rate
    of half the predicted capacity (pool size / one invocation's model time)."""
    phases = parse_phases(options.phases)
    if not phases:
        return options
    rate = options.arrival_rate
    if not rate:
        rate = f"{0.5 * pool_size(options) / max(invocation_s(options), 1e-3):.3g}"
    return replace(options, duration_s=total_s(phases), arrival_rate=rate)


def _check_phases(options: CompareOptions) -> None:
    phases, trigger = parse_phases(options.phases), parse_trigger(options.trigger)
    parse_rate(options.arrival_rate)
    if trigger is not None and not phases:
        raise ValueError(f"--trigger {options.trigger!r}: needs --phases")
    if phases and not options.arrival_rate:
        raise ValueError("--phases needs --arrival-rate (open-model load)")
    if phases and abs(total_s(phases) - options.duration_s) > 1e-6:
        raise ValueError(f"--phases {options.phases!r}: the duration must be their sum")
