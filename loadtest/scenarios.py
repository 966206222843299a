"""Scenario registry: what `stampede compare --scenario NAME` storms, and how it reads the result.

A scenario names the variants to compare (variant -> server setting overrides, passed to
`stampede serve` as flags), the Locust user classes that make the load, extra Locust
arguments, and optionally hooks that add per-variant summary fields and verdict lines, and
figures drawn after the standard ones (shown next to the verdict in the report).
Register more with `register(Scenario(...))`; `--scenario all` runs every registered one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stampede.loadtest.hazard_report import figures as hazard_figures
from stampede.loadtest.hazard_report import hazard_summary, hazard_verdict
from stampede.loadtest.plots import Figure

ALL = "all"

# (variant record, its summary so far) -> extra summary fields for that variant
SummaryHook = Callable[[Any, dict[str, Any]], dict[str, Any]]
# {variant: summary} -> plain-words verdict sentences
VerdictHook = Callable[[dict[str, dict[str, Any]]], list[str]]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    variants: dict[str, dict[str, str]]  # variant -> server settings overrides
    user_classes: list[str]  # Locust user class names in loadtest/locustfile.py
    server_settings: dict[str, str] = field(default_factory=dict)  # for every variant
    locust_args: dict[str, str] = field(default_factory=dict)  # extra custom arguments
    summary_hooks: list[SummaryHook] = field(default_factory=list)
    verdict: VerdictHook | None = None
    figures: tuple[Figure, ...] = ()  # the scenario's own plots, after the standard ones


def waiter_verdict(variants: dict[str, dict[str, Any]]) -> list[str]:
    """e.g. "to_thread wedged at 4.1 s with 6/6 workers parked by waiters"."""
    lines = []
    for name, v in variants.items():
        if v.get("error"):
            lines.append(f"{name} did not run to the end: {v['error']}")
            continue
        parked = f"{v.get('peak_waiter_threads')}/{v.get('executor_max_workers')}"
        if v.get("wedged"):
            when = v.get("wedged_at_s")
            at = f" at {when:.1f} s" if isinstance(when, int | float) else ""
            line = f"{name} wedged{at} with {parked} workers parked by waiters"
        elif v.get("stalled"):
            line = f"{name} stalled (requests in flight, none ending); {parked} parked"
        else:
            line = (
                f"{name} did not wedge; peak {v.get('peak_waiter_threads')} worker(s) parked "
                f"by waiters, peak {v.get('peak_threads')} threads"
            )
        lines.append(line + intent_clause(v.get("intents")))
    return lines


def intent_clause(i: dict[str, Any] | None) -> str:
    """ "; 100 of 100 intents succeeded (100.0%), goodput 4.98/s, 6.33 attempts per intent,
    intent p99 2724 ms" (empty without intents)."""
    if not i:
        return ""
    ratio, p99 = i.get("success_ratio"), (i.get("latency_ms") or {}).get("p99")
    share = f" ({ratio * 100:.1f}%)" if isinstance(ratio, int | float) else ""
    text = f"; {i.get('succeeded')} of {i.get('counted')} intents succeeded{share}"
    text += f", goodput {_num(i.get('goodput_per_s'))}/s"
    text += f", {_num(i.get('attempts_per_intent'))} attempts per intent"
    return text + (f", intent p99 {p99:.0f} ms" if isinstance(p99, int | float) else "")


def _num(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else "-"


IDEMPOTENCY = Scenario(
    name="idempotency",
    description=(
        "Retry storm of duplicate invocations sharing idempotency keys: the to_thread waiter "
        "parks one executor worker per waiting duplicate, the future waiter parks none."
    ),
    variants={"to_thread": {"waiter": "to_thread"}, "future": {"waiter": "future"}},
    user_classes=["IdempotencyStormUser"],
    verdict=waiter_verdict,
)

SCENARIOS: dict[str, Scenario] = {}


def register(scenario: Scenario) -> Scenario:
    if scenario.name == ALL or not scenario.variants or not scenario.user_classes:
        raise ValueError(f"scenario {scenario.name!r} needs a name, variants and user classes")
    SCENARIOS[scenario.name] = scenario
    return scenario


register(IDEMPOTENCY)


STREAM = Scenario(
    name="stream",
    description=(
        "SSE clients that read a few events and drop the connection: the abandoned query() "
        "generator is closed by the event loop's finalizer in another task, so a Query whose "
        "anyio task group was entered by hand reports a cancel-scope RuntimeError per dropped "
        "stream; plain asyncio tasks and an owner task report none."
    ),
    variants={
        impl: {"stream_impl": impl} for impl in ("anyio_taskgroup", "asyncio_tasks", "owner_task")
    },
    user_classes=["StreamUser"],
    server_settings={"stream_interval_ms": "50"},
    locust_args={"stream_drop_after": "3"},
    summary_hooks=[hazard_summary("cancel_scope")],
    verdict=hazard_verdict("dropped stream"),
    figures=hazard_figures(),
)

SESSION = Scenario(
    name="session",
    description=(
        "A health checker opening a WebSocket session, sending initialize and closing, at a "
        "steady rate: the bridge cancels the agent task each time, and a bare "
        "`await conn.listen()` orphans the connection's sender and dispatcher tasks until gc "
        "destroys them while pending. The server collects on a 1 s timer only "
        "(gc_mode=timer), so the orphans stay visible as live tasks between passes."
    ),
    variants={impl: {"session_impl": impl} for impl in ("bare", "closing")},
    user_classes=["HealthCheckUser"],
    server_settings={"gc_mode": "timer"},
    locust_args={"health_check_interval": "0.25"},
    summary_hooks=[hazard_summary("task_destroyed_pending")],
    verdict=hazard_verdict("health check"),
    figures=hazard_figures(),
)

register(STREAM)
register(SESSION)


def resolve(name: str) -> list[Scenario]:
    """The scenarios `--scenario name` runs; ValueError naming the value if unknown."""
    if name == ALL:
        return list(SCENARIOS.values())
    if name not in SCENARIOS:
        known = ", ".join([*SCENARIOS, ALL])
        raise ValueError(f"unknown scenario {name!r} (known: {known})")
    return [SCENARIOS[name]]
