"""`stampede diff RUN_A RUN_B`: did B regress against A?

Compares the headline figures of two runs' summaries (two results folders, or two summary.json
files) variant by variant, or of two target plans (`stampede plan --target`: plan.json, one
"variant" per host shape, its knee, peak, limit and storm margin): a table with both values
and the change, a plain-words verdict, `--json` for machines, and exit code 1 when any
figure got worse by more than `--tolerance` (a share of A's value; any worsening of a figure
that was 0, and a figure B could not measure, count too). The figure names are the gates'
(loadtest/verdict/gates.py).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stampede.loadtest.commands import HELP
from stampede.loadtest.errors import UsageError
from stampede.loadtest.verdict.gates import FIGURES

# Headline figure -> +1 if higher is better, -1 if lower is better.
DIRECTION: dict[str, int] = {
    "goodput": 1,
    "goodput_ratio": 1,
    "amplification": -1,
    "server_amplification": -1,
    "model_calls_per_intent": -1,
    "retry_ratio": -1,
    "intent_p50_ms": -1,
    "intent_p95_ms": -1,
    "intent_p99_ms": -1,
    "wedged": -1,
    "peak_waiter_threads": -1,
    "stuck_inflight": -1,
    "leaked_tasks": -1,
    "loop_errors": -1,
    "duplicate_side_effects": -1,
    "recovered": 1,
    "recovery_s": -1,
    # target plans (plan.json's variants: one per host shape)
    "knee_concurrency": 1,
    "peak_goodput": 1,
    "slo_max_concurrency": 1,
    "recommended_limit": 1,
    "goodput_at_limit": 1,
    "replicas": -1,
    "storm_margin_duplicates": 1,
}
DEFAULT_TOLERANCE = 0.1


@dataclass(frozen=True)
class Row:
    variant: str
    figure: str
    a: Any
    b: Any
    change_pct: float | None
    verdict: str  # regressed | improved | same | not measured | new | n/a


def load_summary(path_text: str) -> dict[str, Any]:
    path = Path(path_text)
    file = path / "summary.json" if path.is_dir() else path
    if path.is_dir() and not file.exists() and (path / "plan.json").exists():
        file = path / "plan.json"  # a target plan: its variants are its host shapes
    try:
        data = json.loads(file.read_text())
    except OSError as exc:
        raise UsageError(f"{path_text!r}: no summary.json there ({exc.strerror})") from None
    except ValueError:
        raise UsageError(f"{path_text!r}: {file} is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("variants"), dict):
        raise UsageError(
            f"{path_text!r}: {file} is not a stampede summary or target plan (no variants)"
        )
    return data


def _value(figure: str, variant: dict[str, Any]) -> Any:
    value = FIGURES[figure](variant)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def compare_figure(variant: str, figure: str, a: Any, b: Any, tolerance: float) -> Row:
    if a is None and b is None:
        return Row(variant, figure, a, b, None, "n/a")
    if b is None:
        return Row(variant, figure, a, b, None, "not measured")
    if a is None:
        return Row(variant, figure, a, b, None, "new")
    x, y = float(a), float(b)
    change = None if x == 0 else round((y - x) / abs(x) * 100, 1)
    worse = DIRECTION[figure] * (x - y)  # > 0: B is worse
    if worse > 0 and (x == 0 or worse > tolerance * abs(x)):
        verdict = "regressed"
    elif worse < 0 and (x == 0 or -worse > tolerance * abs(x)):
        verdict = "improved"
    else:
        verdict = "same"
    return Row(variant, figure, a, b, change, verdict)


# The storm settings that change what the figures mean: runs that differ in them are compared
# with a warning (they are not the same experiment).
STORM_SETTINGS = ("duplicates", "retry_policy", "client_timeout", "users", "duration", "agents")
# A target's primary state (loadtest/verdict/state.py), best first: a move down is a regression.
STATE_RANK = {
    "healthy": 0,
    "degraded": 1,
    "serialized": 2,
    "overloaded": 2,
    "erroring": 3,
    "leaking": 3,
    "stalled": 4,
    "failing": 5,
    "wedged": 6,
}


def settings_warnings(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """One line per storm setting the two runs differ in."""
    sa, sb = a.get("settings") or {}, b.get("settings") or {}
    return [
        f"warning: the runs differ in --{key.replace('_', '-')}: A {_show(sa.get(key))}, "
        f"B {_show(sb.get(key))}; the figures are not from the same storm"
        for key in STORM_SETTINGS
        if key in sa and key in sb and sa[key] != sb[key]
    ]


def _state_row(name: str, va: dict[str, Any], vb: dict[str, Any]) -> Row | None:
    sa, sb = (va.get("state") or {}).get("state"), (vb.get("state") or {}).get("state")
    if sa is None and sb is None:
        return None
    la = (va.get("state") or {}).get("label", sa)
    lb = (vb.get("state") or {}).get("label", sb)
    if sb is None:
        return Row(name, "state", la, None, None, "not measured")
    if sa is None:
        return Row(name, "state", None, lb, None, "new")
    ra, rb = STATE_RANK.get(sa, 4), STATE_RANK.get(sb, 4)
    verdict = "same" if sa == sb else ("regressed" if rb > ra else "improved")
    if sa != sb and ra == rb:
        verdict = "changed"
    return Row(name, "state", la, lb, None, verdict)


def diff(a: dict[str, Any], b: dict[str, Any], tolerance: float) -> list[Row]:
    rows = []
    names = [n for n in a["variants"] if n in b["variants"]]
    for name in names:
        va, vb = a["variants"][name], b["variants"][name]
        if (state := _state_row(name, va, vb)) is not None:
            rows.append(state)
        for figure in DIRECTION:
            rows.append(
                compare_figure(name, figure, _value(figure, va), _value(figure, vb), tolerance)
            )
    for name in a["variants"]:
        if name not in b["variants"]:
            rows.append(Row(name, "variant", "run", None, None, "not measured"))
    for name in b["variants"]:
        if name not in a["variants"]:
            rows.append(Row(name, "variant", None, "run", None, "new"))
    return [r for r in rows if r.verdict != "n/a"]


def verdict(rows: list[Row], tolerance: float) -> str:
    bad = [r for r in rows if r.verdict in ("regressed", "not measured")]
    good = [r for r in rows if r.verdict == "improved"]
    if not bad:
        return (
            f"No regression beyond {tolerance:.0%}: {len(good)} figure(s) improved, "
            f"{sum(1 for r in rows if r.verdict == 'same')} the same."
        )
    worst = "; ".join(_words(r) for r in bad[:5])
    more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
    return f"B regressed against A in {len(bad)} figure(s): {worst}{more}."


def _words(r: Row) -> str:
    if r.verdict == "not measured" and r.figure == "variant":
        return f"{r.variant} ran in A, not in B"
    if r.verdict == "not measured":
        return f"{r.variant} {r.figure} was {_show(r.a)}, not measured in B"
    if r.figure == "state":
        return f"{r.variant} state {r.a} -> {r.b}"
    change = f" ({r.change_pct:+.1f}%)" if r.change_pct is not None else ""
    return f"{r.variant} {r.figure} {_show(r.a)} -> {_show(r.b)}{change}"


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def render_table(rows: list[Row]) -> str:
    header = ("variant", "figure", "A", "B", "change", "verdict")
    cells = [
        (
            r.variant,
            r.figure,
            _show(r.a),
            _show(r.b),
            "-" if r.change_pct is None else f"{r.change_pct:+.1f}%",
            r.verdict,
        )
        for r in rows
    ]
    widths = [max(len(str(c[i])) for c in [header, *cells]) for i in range(len(header))]
    lines = ["  ".join(str(c[i]).ljust(widths[i]) for i in range(len(header))) for c in cells]
    head = "  ".join(h.ljust(widths[i]) for i, h in enumerate(header))
    return "\n".join([head, "  ".join("-" * w for w in widths), *lines])


def _tolerance(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise UsageError(f"--tolerance {text!r}: not a number (a share like 0.1, or 10%)") from None
    if not 0 <= value <= 10 or not math.isfinite(value):
        raise UsageError(f"--tolerance {text!r}: must be between 0 and 10 (1000%)")
    return value


def cmd_diff(args: argparse.Namespace) -> int:
    tolerance = _tolerance(args.tolerance)
    a, b = load_summary(args.run_a), load_summary(args.run_b)
    rows = diff(a, b, tolerance)
    regressed = any(r.verdict in ("regressed", "not measured") for r in rows)
    text = verdict(rows, tolerance)
    warnings = settings_warnings(a, b)
    if args.json:
        out = {
            "a": a.get("run_id"),
            "b": b.get("run_id"),
            "tolerance": tolerance,
            "regressed": regressed,
            "verdict": text,
            "warnings": warnings,
            "rows": [asdict(r) for r in rows],
        }
        print(json.dumps(out, indent=2))
    else:
        print(f"A: {a.get('run_id', args.run_a)}\nB: {b.get('run_id', args.run_b)}\n")
        print(render_table(rows))
        print(f"\n{text}")
        for line in warnings:
            print(line)
    return 1 if regressed else 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "diff",
        help=HELP["diff"],
        description=__doc__,
    )
    parser.add_argument("run_a", metavar="RUN_A", help="results folder or summary.json (before)")
    parser.add_argument("run_b", metavar="RUN_B", help="results folder or summary.json (after)")
    parser.add_argument(
        "--tolerance",
        default=str(DEFAULT_TOLERANCE),
        help=f"worsening allowed, a share of A's value (default {DEFAULT_TOLERANCE:g}, or 10%%)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=cmd_diff)
