"""CI gates: `--fail-on 'wedged,leaked_tasks>0,goodput_ratio<0.9,intent_p99_ms>3000'`.

Each gate is a failure condition on one figure of a variant's summary: `NAME` (fails when
the figure is true or non-zero), `!NAME` (fails when it is false or zero), or `NAME OP NUMBER`
with OP one of > >= < <= == != (fails when the comparison holds). `VARIANT:GATE` checks one
variant only; otherwise every variant of the run is checked. A figure the run could not
measure fails its gate as "unknown": a gate never passes on a missing number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Getter = Callable[[dict[str, Any]], Any]


def _path(*keys: str) -> Getter:
    def get(v: dict[str, Any]) -> Any:
        value: Any = v
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    return get


def _loop_errors(v: dict[str, Any]) -> Any:
    errors = v.get("loop_errors")
    return sum(errors.values()) if isinstance(errors, dict) else None


# Figure name -> where it is in a variant's summary. Names are the contract of --fail-on.
FIGURES: dict[str, Getter] = {
    "wedged": _path("wedged"),
    "stalled": _path("stalled"),
    "leaked_tasks": _path("leaked_tasks"),
    "stuck_inflight": _path("stuck_inflight"),
    "loop_errors": _loop_errors,
    "peak_waiter_threads": _path("peak_waiter_threads"),
    "peak_threads": _path("peak_threads"),
    "intents": _path("intents", "started"),
    "goodput": _path("intents", "goodput_per_s"),
    "goodput_ratio": _path("intents", "success_ratio"),
    "amplification": _path("intents", "attempts_per_intent"),
    "server_amplification": _path("intents", "server_invocations_per_intent"),
    "model_calls_per_intent": _path("intents", "model_calls_per_intent"),
    "retry_ratio": _path("intents", "retry_ratio"),
    "intent_p50_ms": _path("intents", "latency_ms", "p50"),
    "intent_p95_ms": _path("intents", "latency_ms", "p95"),
    "intent_p99_ms": _path("intents", "latency_ms", "p99"),
    "intent_max_ms": _path("intents", "latency_ms", "max"),
    "dropped_starts": _path("intents", "arrival", "dropped"),
    "late_starts": _path("intents", "arrival", "late"),
    "arrival_error_pct": _path("intents", "arrival", "error_pct"),
    "duplicate_side_effects": _path("duplicate_side_effects"),
    "recovered": _path("phases", "recovered"),
    "recovery_s": _path("phases", "recovery_s"),
    "latency_p99_ms": _path("latency_ms", "p99"),
    # `stampede plan --target`: one "variant" per host shape (commands/plan/advice.py)
    "knee_concurrency": _path("knee_concurrency"),
    "peak_goodput": _path("peak_goodput"),
    "slo_max_concurrency": _path("slo_max_concurrency"),
    "recommended_limit": _path("recommended_limit"),
    "goodput_at_limit": _path("goodput_at_limit"),
    "replicas": _path("replicas"),
    "storm_margin_duplicates": _path("storm_margin_duplicates"),
    "usl_r2": _path("usl_r2"),
}
OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}
_GATE = re.compile(
    r"^(?P<neg>!?)(?P<name>[a-z_0-9]+)\s*(?:(?P<op>>=|<=|==|!=|>|<)\s*(?P<num>\S+))?$"
)


@dataclass(frozen=True)
class Gate:
    text: str
    name: str
    op: str | None = None  # None: truthiness
    threshold: float = 0.0
    negate: bool = False
    variant: str | None = None

    def fails(self, value: Any) -> bool:
        number = float(value)  # bools count as 0/1
        if self.op is None:
            return (number == 0) if self.negate else (number != 0)
        return OPS[self.op](number, self.threshold)


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    variant: str
    value: Any  # None: unknown
    failed: bool

    def line(self) -> str:
        shown = "unknown" if self.value is None else _show(self.value)
        return f"gate failed: {self.variant}: {self.gate.text} (measured {shown})"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_gate(text: str) -> Gate:
    """One gate; ValueError naming it when it is not one."""
    raw = text.strip()
    variant, sep, expr = raw.rpartition(":")
    match = _GATE.match(expr.strip())
    if not match:
        raise ValueError(f"--fail-on {raw!r}: not NAME, !NAME or NAME<op>NUMBER")
    name = match["name"]
    if name not in FIGURES:
        known = ", ".join(FIGURES)
        raise ValueError(f"--fail-on {raw!r}: unknown figure {name!r} (known: {known})")
    threshold = 0.0
    if match["op"]:
        if match["neg"]:
            raise ValueError(f"--fail-on {raw!r}: '!' goes with a bare NAME only")
        try:
            threshold = float(match["num"])
        except ValueError:
            raise ValueError(f"--fail-on {raw!r}: {match['num']!r} is not a number") from None
        if not math.isfinite(threshold):
            raise ValueError(f"--fail-on {raw!r}: the threshold must be finite")
    if sep and not variant.strip():
        raise ValueError(f"--fail-on {raw!r}: empty variant before ':'")
    return Gate(
        text=expr.strip(),
        name=name,
        op=match["op"],
        threshold=threshold,
        negate=bool(match["neg"]),
        variant=variant.strip() or None,
    )


def parse_gates(text: str | list[str] | tuple[str, ...]) -> tuple[Gate, ...]:
    """Comma list (or list of comma lists) of gates."""
    items = [text] if isinstance(text, str) else list(text)
    parts = [part for item in items for part in item.split(",") if part.strip()]
    return tuple(parse_gate(part) for part in parts)


def evaluate(gates: tuple[Gate, ...], variants: dict[str, dict[str, Any]]) -> list[GateResult]:
    """Every gate against every variant it names (all of them, unless it names one). A gate
    naming a variant the run does not have fails as unknown."""
    results = []
    for gate in gates:
        names = [gate.variant] if gate.variant else list(variants)
        for name in names:
            summary = variants.get(name)
            value = FIGURES[gate.name](summary) if summary is not None else None
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = None if not math.isfinite(value) else value
            failed = True if value is None else gate.fails(value)
            results.append(GateResult(gate, name, value, failed))
    return results


def gate_record(results: list[GateResult]) -> list[dict[str, Any]]:
    """For summary.json."""
    return [
        {
            "gate": r.gate.text,
            "variant": r.variant,
            "value": r.value,
            "result": "unknown" if r.value is None else "failed" if r.failed else "passed",
        }
        for r in results
    ]
