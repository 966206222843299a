"""`stampede compare` flags and their validation: every bad value is refused, by name, before
anything starts (no directory, no process, no cgroup)."""

from __future__ import annotations

import argparse
import importlib.util
import math
from dataclasses import replace
from typing import Any

from stampede.loadtest.compare import (
    RETRY_POLICIES,
    CompareOptions,
    invocation_s,
    pool_size,
    variants_of,
)
from stampede.loadtest.compare_targets import add_target_flags, check_targets, target_options
from stampede.loadtest.gates import parse_gates
from stampede.loadtest.outdir import check_out_dir
from stampede.loadtest.scenarios import ALL, SCENARIOS, Scenario, resolve
from stampede.loadtest.users.arrival import parse_phases, parse_rate, parse_trigger, total_s

D = CompareOptions()


def add_flags(parser: argparse.ArgumentParser) -> None:
    # Values arrive as strings and are checked here, so every error names flag and value alike.
    flags = [
        ("--scenario", f"{'|'.join([*SCENARIOS, ALL])} (default {D.scenario})"),
        ("--variants", "comma list of variants to run (default: all of the scenario's)"),
        (
            "--sdk",
            "comma list of package==version: one variant per SDK release, each in its "
            "own cached venv (agent-client-protocol: session; strands-agents: idempotency)",
        ),
        ("--duration", f"seconds of load per variant (default {D.duration_s:g})"),
        ("--users", f"Locust users (default {D.users})"),
        ("--duplicates", "concurrent senders per idempotency key (default: the pool size)"),
        ("--agents", f"agent pool the storm draws from (default {D.agents})"),
        ("--cpus", f"CPU cap and emulated CPU count of each server (default {D.cpus:g})"),
        ("--memory", "memory cap of each server, e.g. 512M, 1G, or none (default 512M)"),
        ("--pids", f"pids cap of each server, or none (default {D.pids})"),
        ("--seed", f"seed of the shared schedule and the model (default {D.seed})"),
        ("--out", f"results directory (default {D.out})"),
        ("--model-latency-ms", f"stub model latency (default {D.model_latency_ms:g})"),
        ("--model-cycles", f"model calls per invocation (default {D.model_cycles})"),
        ("--executor-workers", "override the pool size (default: min(32, cpus + 4))"),
        ("--client-timeout", f"client timeout, seconds (default {D.client_timeout_s:g})"),
        ("--retry-policy", f"{'|'.join(RETRY_POLICIES)} (default {D.retry_policy})"),
        ("--max-retries", f"retries per sender (default {D.max_retries})"),
        ("--retry-base", f"backoff base, seconds (default {D.retry_base_s:g})"),
        ("--think-time", f"max seconds between a user's requests (default {D.think_time_s:g})"),
        ("--grace", f"seconds to keep sampling after a wedge (default {D.grace_s:g})"),
        ("--retry-budget", f"budget policy: retries' share of attempts (default {D.retry_budget})"),
        ("--arrival-rate", "open model: intents/s, R or a ramp R1:R2 (default: closed model)"),
        (
            "--phases",
            "baseline=S,trigger=S,recovery=S: one storm in three phases (sets the duration; "
            "default arrival rate half the predicted capacity)",
        ),
        ("--trigger", "spike:Nx | slow-model:Nx | cpu:SHARE, during the trigger phase"),
        ("--idempotency-mode", "throw|replay: forget keys when done, or replay answers"),
        ("--replay-ttl-s", f"replay mode: seconds an answer is kept (default {D.replay_ttl_s:g})"),
        (
            "--fail-on",
            "comma list of gates, e.g. 'wedged,goodput_ratio<0.9'; exit 1 if one fails",
        ),
        (
            "--stream-consume",
            "with --sdk claude-agent-sdk==...: the consumption patterns to run, a comma list of "
            "relay, break, flag, cancel (default: all four, one per stream in turn)",
        ),
    ]
    flags.append(
        ("--locust-workers", "run the storm as a Locust master and N local workers (default 0)")
    )
    for flag, help_text in flags:
        parser.add_argument(flag, metavar="VALUE", default=None, help=help_text)
    parser.add_argument(
        "--no-progress", action="store_true", help="plain progress lines even on a terminal"
    )
    add_target_flags(parser)


def _num(flag: str, text: str, kind: type, low: float, high: float, *, open_low: bool = False):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        what = "an integer" if kind is int else "a number"
        raise ValueError(f"{flag} {text!r}: not {what}") from None
    if not math.isfinite(value) or value > high or value < low or (open_low and value == low):
        bound = f"> {low:g}" if open_low else f">= {low:g}"
        raise ValueError(f"{flag} {text!r}: must be {bound} and <= {high:g}")
    return value


def _memory(text: str) -> int | None:
    from stampede.loadtest.caps import parse_memory

    if text.strip().lower() in ("none", "off", "unlimited"):
        return None
    try:
        return parse_memory(text)
    except ValueError as exc:
        raise ValueError(f"--memory {text!r}: {exc}") from None


def _pids(text: str) -> int | None:
    if text.strip().lower() in ("none", "off", "unlimited"):
        return None
    return int(_num("--pids", text, int, 1, 4_194_304))


def _consume(text: str) -> str:
    from stampede.server.hazards.stream.consume import parse_patterns

    try:
        return ",".join(parse_patterns(text))
    except ValueError as exc:
        raise ValueError(f"--stream-consume {text!r}: {exc}") from None


# flag attribute -> (CompareOptions field, converter)
_CONVERT: dict[str, tuple[str, Any]] = {
    "scenario": ("scenario", str),
    "variants": ("variants", lambda t: tuple(v.strip() for v in t.split(","))),
    "sdk": ("sdk", lambda t: tuple(str(spec) for spec in _sdk_specs(t))),
    "duration": ("duration_s", lambda t: _num("--duration", t, float, 0, 3600, open_low=True)),
    "users": ("users", lambda t: _num("--users", t, int, 1, 10_000)),
    "duplicates": ("duplicates", lambda t: _num("--duplicates", t, int, 1, 1000)),
    "agents": ("agents", lambda t: _num("--agents", t, int, 1, 100_000)),
    "cpus": ("cpus", lambda t: _num("--cpus", t, float, 0, 1024, open_low=True)),
    "memory": ("memory_bytes", _memory),
    "pids": ("pids", _pids),
    "seed": ("seed", lambda t: _num("--seed", t, int, -(2**63), 2**63 - 1)),
    "out": ("out", lambda t: check_out_dir("--out", t)),
    "model_latency_ms": (
        "model_latency_ms",
        lambda t: _num("--model-latency-ms", t, float, 0, 600_000),
    ),
    "model_cycles": ("model_cycles", lambda t: _num("--model-cycles", t, int, 1, 100)),
    "executor_workers": (
        "executor_workers",
        lambda t: _num("--executor-workers", t, int, 1, 4096),
    ),
    "client_timeout": (
        "client_timeout_s",
        lambda t: _num("--client-timeout", t, float, 0, 3600, open_low=True),
    ),
    "retry_policy": ("retry_policy", str),
    "max_retries": ("max_retries", lambda t: _num("--max-retries", t, int, 0, 100)),
    "retry_base": ("retry_base_s", lambda t: _num("--retry-base", t, float, 0, 60)),
    "think_time": ("think_time_s", lambda t: _num("--think-time", t, float, 0, 60)),
    "grace": ("grace_s", lambda t: _num("--grace", t, float, 0, 60)),
    "locust_workers": ("locust_workers", lambda t: _num("--locust-workers", t, int, 0, 64)),
    "retry_budget": (
        "retry_budget",
        lambda t: _num("--retry-budget", t, float, 0, 1, open_low=True),
    ),
    "arrival_rate": ("arrival_rate", lambda t: _checked(parse_rate, t)),
    "idempotency_mode": ("idempotency_mode", str),
    "replay_ttl_s": (
        "replay_ttl_s",
        lambda t: _num("--replay-ttl-s", t, float, 0, 604_800, open_low=True),
    ),
    "phases": ("phases", lambda t: _checked(parse_phases, t)),
    "trigger": ("trigger", lambda t: _checked(parse_trigger, t)),
    "fail_on": ("fail_on", lambda t: tuple(g.strip() for g in t.split(",") if g.strip())),
    "stream_consume": ("stream_consume", _consume),
}


def _checked(parse: Any, text: str) -> str:
    parse(text)  # ValueError naming flag and value
    return text.strip()


def options_from_args(args: argparse.Namespace) -> CompareOptions:
    """CompareOptions from parsed flags; UsageError (exit 2) naming the first bad value."""
    from stampede.loadtest.cli import UsageError

    values: dict[str, Any] = {}
    try:
        for attr, (name, convert) in _CONVERT.items():
            text = getattr(args, attr, None)
            if text is not None:
                values[name] = convert(text)
        if getattr(args, "no_progress", False):
            values["progress"] = False
        targets = target_options(args)
        if targets is not None:
            values["targets"] = targets
            values["fail_on"] = (*values.get("fail_on", ()), *_workload_gates(targets))
        if values.get("sdk") and "scenario" not in values:  # the SDK's own scenario
            values["scenario"] = _sdk_specs(values["sdk"][0])[0].scenario
        if values.get("phases") and "duration_s" in values:
            raise ValueError("--phases sets the duration (their sum): drop --duration")
        options = open_model_defaults(CompareOptions(**values))
        check_options(options)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return options


def check_options(options: CompareOptions) -> None:
    """Cross-field checks, also run by run_compare for callers that skip the CLI."""
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
    if options.stream_consume is not None and not _serves_consume(options):
        raise ValueError(
            f"--stream-consume {options.stream_consume!r}: the patterns are claude-agent-sdk's; "
            "use it with --sdk claude-agent-sdk==A,claude-agent-sdk==B"
        )
    if options.retry_policy not in RETRY_POLICIES:
        raise ValueError(
            f"--retry-policy {options.retry_policy!r}: must be one of {', '.join(RETRY_POLICIES)}"
        )
    parse_gates(options.fail_on)
    _check_phases(options)
    check_out_dir("--out", str(options.out))
    for scenario in scenarios if options.targets is None else ():
        _check_server_settings(options, scenario)
    if importlib.util.find_spec("locust") is None:
        raise ValueError("locust is not installed in this environment")


def _sdk_specs(text: str) -> tuple[Any, ...]:
    from stampede.loadtest.sdk_envs import parse_specs

    return parse_specs(text)


def _check_sdk(options: CompareOptions, scenarios: list[Scenario]) -> None:
    from stampede.loadtest.sdk_envs import check_scenario

    if options.variants:
        raise ValueError("--sdk and --variants both name the variants: give one of them")
    if len(scenarios) != 1:
        raise ValueError(f"--sdk needs one --scenario, not {options.scenario!r}")
    check_scenario(_sdk_specs(",".join(options.sdk)), scenarios[0].name)


def _serves_consume(options: CompareOptions) -> bool:
    return all(spec.startswith("claude-agent-sdk==") for spec in options.sdk) and bool(options.sdk)


def _check_server_settings(options: CompareOptions, scenario: Scenario) -> None:
    from pydantic import ValidationError
    from stampede.loadtest.compare import server_common, variant_settings
    from stampede.server.settings import ServerSettings

    for variant in variants_of(options, scenario):
        overrides = variant_settings(options, scenario, variant)
        merged = server_common(options) | scenario.server_settings | overrides
        try:
            ServerSettings(**merged)
        except ValidationError as exc:
            problem = exc.errors()[0]
            field = str(problem["loc"][0]) if problem["loc"] else "setting"
            raise ValueError(
                f"server setting {field}={merged.get(field)!r} for variant {variant}: "
                f"{str(problem['msg']).removeprefix('Value error, ')}"
            ) from None


def _workload_gates(targets: Any) -> tuple[str, ...]:
    """The workload file's [gates] fail_on, checked here, naming the file on a bad one."""
    gates = tuple(g.strip() for g in targets.workload.gates.fail_on)
    try:
        parse_gates(gates)
    except ValueError as exc:
        where = f"--workload {targets.workload_file!r}: gates.fail_on"
        raise ValueError(f"{where}: {str(exc).removeprefix('--fail-on ')}") from None
    return gates


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
