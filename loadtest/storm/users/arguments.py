"""The storm's parameters as Locust custom arguments: headless, web UI and master/worker alike.

In master/worker mode the master ships its parsed options to the workers with each spawn, so
workers need only `-f locustfile.py --worker`; users read the options when they are created.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from stampede.loadtest.storm.users.arrival import (
    Phase,
    Rate,
    Trigger,
    parse_phases,
    parse_rate,
    parse_trigger,
)

RETRY_POLICIES = ("none", "fixed", "exponential", "full-jitter", "budget", "adaptive")
ANY_HOST = "*"  # --allow-remote without a value
MAX_AGENTS = 1_000_000  # names are made on demand (users/base.py), the Zipf weights once


def add_arguments(parser: Any) -> None:
    """Listener for `events.init_command_line_parser` (parser is Locust's configargparse)."""
    # Straight on the parser: only its add_argument knows include_in_web_ui.
    group = parser
    group.add_argument(
        "--targets",
        default="",
        help="comma list of name=url; users are split evenly between them and stats names are "
        "prefixed '<name>:' (default: just --host)",
    )
    group.add_argument(
        "--agents",
        type=int,
        default=4,
        help="agent pool intents draw from (Zipf: hot agents collide, 409); 0: an agent per intent",
    )
    group.add_argument(
        "--duplicates", type=int, default=6, help="concurrent senders of each idempotency key"
    )
    group.add_argument(
        "--client-timeout", type=float, default=2.0, help="seconds before a client gives up"
    )
    group.add_argument(
        "--retry-policy", choices=RETRY_POLICIES, default="full-jitter", help="backoff policy"
    )
    group.add_argument(
        "--max-retries", type=int, default=3, help="retries per sender, same idempotency key"
    )
    group.add_argument("--retry-base", type=float, default=0.25, help="backoff base, seconds")
    group.add_argument(
        "--think-time", type=float, default=0.5, help="max seconds between logical requests"
    )
    group.add_argument(
        "--retry-budget",
        type=float,
        default=0.2,
        help="--retry-policy budget: retries in flight at most this share of attempts in flight",
    )
    group.add_argument("--seed", type=int, default=0, help="seed of every user's schedule")
    group.add_argument(
        "--arrival-rate",
        default="",
        help="open model: intents per second, R or a ramp R1:R2 over the run; starts never wait "
        "for answers (default: closed model, each user waits for its intent)",
    )
    group.add_argument(
        "--phases",
        default="",
        help="baseline=S,trigger=S,recovery=S: one storm in three phases (needs --arrival-rate)",
    )
    group.add_argument(
        "--trigger",
        default="",
        help="during the trigger phase: spike:Nx (rate x N), slow-model:Nx (server's model N x "
        "slower, via its loopback-only control endpoint), cpu:SHARE (harness only)",
    )
    group.add_argument(
        "--max-inflight-intents",
        type=int,
        default=200,
        help="open model: intents one user keeps in flight at most; starts beyond are dropped",
    )
    # The run's shape, copied from Locust's own options by the master (or local runner) at
    # test start: workers get custom arguments only, and open-model users split the rate by it.
    group.add_argument("--storm-total-users", type=int, default=0, include_in_web_ui=False)
    group.add_argument("--storm-run-time", type=float, default=0.0, include_in_web_ui=False)
    group.add_argument("--storm-t0", type=float, default=0.0, include_in_web_ui=False)
    group.add_argument(
        "--intents-file",
        default="",
        help="write every intent and its attempts here as JSON lines (master or local runner)",
        include_in_web_ui=False,
    )
    group.add_argument(
        "--prometheus-port",
        type=int,
        default=0,
        help="export stampede_client_* metrics on this port (master or local runner; 0 = off)",
    )
    group.add_argument(
        "--allow-remote",
        nargs="?",
        const=ANY_HOST,
        default="",
        metavar="HOSTS",
        include_in_web_ui=False,  # never set (or widened) from the web UI
        help="let the storm leave loopback: to any host, or only to the comma-listed HOSTS",
    )
    group.add_argument(
        "--prometheus-host",
        default="127.0.0.1",
        help="address the client-metrics exporter binds",
        include_in_web_ui=False,
    )


@dataclass(frozen=True)
class StormOptions:
    targets: tuple[tuple[str, str], ...]
    agents: int
    duplicates: int
    client_timeout: float
    retry_policy: str
    max_retries: int
    retry_base: float
    think_time: float
    seed: int
    retry_budget: float = 0.2
    arrival: Rate | None = None
    phases: tuple[Phase, ...] = ()
    trigger: Trigger | None = None
    max_inflight_intents: int = 200
    allow_remote: str = ""  # see users/loopback.py


def parse_targets(text: str) -> tuple[tuple[str, str], ...]:
    targets = []
    for item in (part.strip() for part in (text or "").split(",")):
        if not item:
            continue
        # The last "=": a variant name may hold one (an SDK release, "package==1.2.3").
        name, sep, url = item.rpartition("=")
        if not sep or not name.strip() or not url.strip().startswith(("http://", "https://")):
            raise ValueError(f"--targets entry {item!r} is not name=http://host:port")
        targets.append((name.strip(), url.strip().rstrip("/")))
    names = [name for name, _ in targets]
    if len(set(names)) != len(names):
        raise ValueError(f"--targets names must be unique, got {names}")
    return tuple(targets)


def storm_options(parsed: argparse.Namespace | None) -> StormOptions:
    """Typed, checked options; missing attributes (another locustfile) fall back to defaults."""

    def get(name: str, default: Any) -> Any:
        value = getattr(parsed, name, None) if parsed is not None else None
        return default if value is None else value

    options = StormOptions(
        targets=parse_targets(str(get("targets", ""))),
        agents=int(get("agents", 4)),
        duplicates=int(get("duplicates", 6)),
        client_timeout=float(get("client_timeout", 2.0)),
        retry_policy=str(get("retry_policy", "full-jitter")),
        max_retries=int(get("max_retries", 3)),
        retry_base=float(get("retry_base", 0.25)),
        think_time=float(get("think_time", 0.5)),
        seed=int(get("seed", 0)),
        allow_remote=str(get("allow_remote", "")),
        retry_budget=float(get("retry_budget", 0.2)),
        arrival=parse_rate(str(get("arrival_rate", ""))),
        phases=parse_phases(str(get("phases", ""))),
        trigger=parse_trigger(str(get("trigger", ""))),
        max_inflight_intents=int(get("max_inflight_intents", 200)),
    )
    _check(options)
    return options


def _check(o: StormOptions) -> None:
    problems = []
    if not 0 <= o.agents <= MAX_AGENTS:
        problems.append(f"--agents must be 0..{MAX_AGENTS}, got {o.agents}")
    if not 1 <= o.duplicates <= 1000:
        problems.append(f"--duplicates must be 1..1000, got {o.duplicates}")
    if not 0 < o.client_timeout <= 3600:
        problems.append(f"--client-timeout must be in (0, 3600], got {o.client_timeout}")
    if o.retry_policy not in RETRY_POLICIES:
        problems.append(f"--retry-policy must be one of {RETRY_POLICIES}, got {o.retry_policy!r}")
    if not 0 <= o.max_retries <= 100:
        problems.append(f"--max-retries must be 0..100, got {o.max_retries}")
    if not 0 <= o.retry_base <= 60:
        problems.append(f"--retry-base must be 0..60, got {o.retry_base}")
    if not 0 <= o.think_time <= 60:
        problems.append(f"--think-time must be 0..60, got {o.think_time}")
    if not 0 < o.retry_budget <= 1:
        problems.append(f"--retry-budget must be in (0, 1], got {o.retry_budget}")
    if not 1 <= o.max_inflight_intents <= 100_000:
        problems.append(f"--max-inflight-intents must be 1..100000, got {o.max_inflight_intents}")
    if o.phases and o.arrival is None:
        problems.append("--phases needs --arrival-rate (open-model load)")
    if o.trigger is not None and not o.phases:
        problems.append("--trigger needs --phases")
    if problems:
        raise ValueError("; ".join(problems))
