"""Compare's report: what report.md and report.html say about one run's summary and plots.

Built as one Document (loadtest/report/): the verdict first, with the scenario's own figures as
its evidence, then the per-variant summary, the caps requested and enforced, the settings, the
standard plots and notes on how to read them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stampede.loadtest.report import (
    Block,
    BulletList,
    Callout,
    Document,
    Heading,
    Image,
    Paragraph,
    Table,
    write_document,
)
from stampede.loadtest.verdict.state import failure_text
from stampede.loadtest.verdict.target_verdict import parked_stacks

Row = tuple[str, Callable[[dict[str, Any]], Any]]

NOTES = (
    "t = 0 is the start of the Locust process; every variant runs the same seeded schedule.",
    "An intent is one logical request; its primary, concurrent duplicates and retries are "
    "attempts. Goodput counts intents that got an answer; intent latency runs from the intended "
    "start to the first answer, over the intents that got one.",
    "Attempt latency percentiles are Locust's over all attempts, failures included "
    "(a client timeout counts at the timeout).",
    "Threads parked by waiters = executor workers busy on a duplicate's wait; "
    "a wedge is every worker parked while a primary's model call waits behind them.",
)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items() if v) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(map(_fmt, value)) or "-"
    return str(value)


def _leaked(v: dict[str, Any]) -> str:
    leaked = v.get("leaked_tasks")
    if leaked is None or v.get("leaked_tasks_after_gc", True):
        return _fmt(leaked)
    return f"{leaked} (no gc pass seen)"  # may count orphans the next pass would destroy


def _phases(timings: dict[str, Any]) -> str:
    return " / ".join(_fmt(timings.get(k)) for k in ("startup_s", "load_s", "teardown_s"))


def _memory(n: Any) -> str:
    return "-" if not isinstance(n, int) else f"{n / (1 << 20):.0f} MiB"


def _intent(*keys: str) -> Callable[[dict[str, Any]], Any]:
    def get(v: dict[str, Any]) -> Any:
        value: Any = v.get("intents")
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None and keys[0] == "latency_ms" and (v.get("intents") or {}).get("counted"):
            return "none answered"  # measured: no intent got an answer to time
        return value

    return get


def _digits(get: Callable[[dict[str, Any]], Any], n: int) -> Callable[[dict[str, Any]], Any]:
    """Ratios need more than the table's one decimal (a retry ratio of 0.05 is not 0.1)."""

    def show(v: dict[str, Any]) -> Any:
        value = get(v)
        return f"{value:.{n}f}" if isinstance(value, float) else value

    return show


def _succeeded(v: dict[str, Any]) -> str:
    i = v.get("intents") or {}
    if not i:
        return "-"
    ratio = i.get("success_ratio")
    share = f" ({ratio * 100:.1f}%)" if isinstance(ratio, int | float) else ""
    return f"{i.get('succeeded')} of {i.get('counted')}{share}"


# The figures that tell the designs apart lead; attempt-level and raw figures are detail.
HEADLINE_ROWS: list[Row] = [
    ("intents started", _intent("started")),
    ("intents succeeded", _succeeded),
    ("goodput (intents/s)", _digits(_intent("goodput_per_s"), 2)),
    ("amplification (attempts/intent)", _digits(_intent("attempts_per_intent"), 2)),
    ("server invocations/intent", _digits(_intent("server_invocations_per_intent"), 2)),
    ("retry ratio", _digits(_intent("retry_ratio"), 3)),
    ("intent latency p50 (ms)", _intent("latency_ms", "p50")),
    ("intent latency p95 (ms)", _intent("latency_ms", "p95")),
    ("intent latency p99 (ms)", _intent("latency_ms", "p99")),
    ("intent latency max (ms)", _intent("latency_ms", "max")),
]

SUMMARY_ROWS: list[Row] = [
    ("wedged", lambda v: v.get("wedged")),
    ("wedged at (s)", lambda v: v.get("wedged_at_s")),
    ("peak workers parked by waiters", lambda v: v.get("peak_waiter_threads")),
    ("executor workers", lambda v: v.get("executor_max_workers")),
    ("ended", lambda v: v.get("ended")),
    ("ran (s)", lambda v: v.get("ran_s")),
    ("peak threads", lambda v: v.get("peak_threads")),
    ("peak executor queue", lambda v: v.get("peak_executor_queued")),
    ("peak pending asyncio tasks", lambda v: v.get("peak_event_loop_tasks")),
    ("peak RSS", lambda v: _memory(v.get("peak_rss_bytes"))),
    ("attempts ok", lambda v: v.get("requests", {}).get("ok")),
    ("attempts failed", lambda v: v.get("requests", {}).get("failed")),
    ("  409 conflict", lambda v: v.get("requests", {}).get("conflict")),
    ("  timeouts (client + 504)", lambda v: v.get("requests", {}).get("timeout")),
    ("attempt latency p50 (ms)", lambda v: v.get("latency_ms", {}).get("p50")),
    ("attempt latency p95 (ms)", lambda v: v.get("latency_ms", {}).get("p95")),
    ("attempt latency p99 (ms)", lambda v: v.get("latency_ms", {}).get("p99")),
    ("loop errors", lambda v: v.get("loop_errors")),
    ("requests stuck in flight at the end", lambda v: v.get("stuck_inflight")),
    ("leaked asyncio tasks (after gc)", _leaked),
    ("start-up / load / teardown (s)", lambda v: _phases(v.get("timings") or {})),
]


def _hazard(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda v: (v.get("hazard") or {}).get(key)


# Only for scenarios whose summary hook adds a `hazard` block
# (loadtest/storm/scenarios/hazard_report.py).
HAZARD_ROWS: list[Row] = [
    ("hazard result", _hazard("result")),
    ("hazard triggers", _hazard("triggers")),
    ("hazard errors", _hazard("errors")),
    ("errors per trigger", _hazard("errors_per_trigger")),
    ("peak live tasks above baseline", _hazard("peak_tasks_above_baseline")),
]


def _by_phase(key: str) -> Callable[[dict[str, Any]], Any]:
    """ "2.88 / 0.40 / 2.13": one figure for baseline / trigger / recovery."""

    def get(v: dict[str, Any]) -> Any:
        phases = (v.get("phases") or {}).get("by_phase") or {}
        cells = [(phases.get(name) or {}).get(key) for name in ("baseline", "trigger", "recovery")]
        return " / ".join("-" if c is None else f"{c:.2f}" for c in cells)

    return get


def _recovery(v: dict[str, Any]) -> Any:
    p = v.get("phases") or {}
    if not p:
        return None
    return f"yes, after {p['recovery_s']:g} s" if p.get("recovered") else "no"


def _arrival(v: dict[str, Any]) -> Any:
    a = (v.get("intents") or {}).get("arrival") or {}
    if not a:
        return None
    error = a.get("error_pct")
    off = f" ({error:+.1f}%)" if isinstance(error, int | float) else ""
    return f"{a.get('achieved_per_s')} of {a.get('target_per_s')}{off}"


def _starts(v: dict[str, Any]) -> Any:
    a = (v.get("intents") or {}).get("arrival") or {}
    if not a:
        return None
    limited = "; the load generator was the limit" if a.get("generator_limited") else ""
    return f"{a.get('late')} late, {a.get('dropped')} dropped{limited}"


# Only for open-model storms (--arrival-rate): the generator's own accuracy.
ARRIVAL_ROWS: list[Row] = [
    ("arrival rate achieved (intents/s)", _arrival),
    ("intent starts late / dropped", _starts),
]

# Only for phased storms (--phases): loadtest/verdict/phases.py.
PHASE_ROWS: list[Row] = [
    ("recovered (goodput within 10% of baseline)", _recovery),
    (
        "baseline goodput (intents/s)",
        lambda v: (v.get("phases") or {}).get("baseline_goodput_per_s"),
    ),
    ("goodput baseline / trigger / recovery", _by_phase("goodput_per_s")),
    ("amplification baseline / trigger / recovery", _by_phase("amplification")),
    ("success ratio baseline / trigger / recovery", _by_phase("success_ratio")),
]


def _state(v: dict[str, Any]) -> Any:
    s = v.get("state") or {}
    return f"{s['label']} (evidence {s['evidence']})" if s else None


def _ratio(v: dict[str, Any]) -> Any:
    ratio = (v.get("state") or {}).get("success_ratio")
    return f"{ratio * 100:.1f}%" if isinstance(ratio, int | float) else None


def _failures(v: dict[str, Any]) -> Any:
    kinds = (v.get("intents") or {}).get("failure_kinds") or []
    return "; ".join(failure_text(k) for k in kinds) if kinds else "none"


# Only for the user's own servers (loadtest/verdict/state.py): the same figures as the verdict.
STATE_ROWS: list[Row] = [
    ("state", _state),
    ("success ratio", _ratio),
    ("attempt failures (share, status: sample)", _failures),
]


def summary_table(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    variants = summary.get("variants", {})
    header = ["", *variants]
    table = list(SUMMARY_ROWS)
    if any(v.get("phases") for v in variants.values()):
        table = PHASE_ROWS + table
    if any((v.get("intents") or {}).get("arrival") for v in variants.values()):
        table = ARRIVAL_ROWS + table
    if any(v.get("intents") for v in variants.values()):
        table = HEADLINE_ROWS + table
    if any(v.get("state") for v in variants.values()):
        table = STATE_ROWS + table
    if any(v.get("hazard") for v in variants.values()):
        table += HAZARD_ROWS
    rows = [[label, *(_fmt(get(v)) for v in variants.values())] for label, get in table]
    return header, rows


def caps_table(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["variant", "method", "requested", "enforced", "notes"]
    rows = []
    for name, v in summary.get("variants", {}).items():
        caps = v.get("caps") or {}
        rows.append(
            [
                name,
                str(caps.get("method", "-")),
                _caps(caps.get("requested")),
                _caps(caps.get("enforced")),
                "; ".join(caps.get("notes", [])) or "-",
            ]
        )
    return header, rows


def _caps(values: dict[str, Any] | None) -> str:
    if not values:
        return "-"
    cpus, memory, pids = values.get("cpus"), values.get("memory_bytes"), values.get("pids")
    return f"cpus {_fmt(cpus)}, memory {_memory(memory)}, pids {_fmt(pids)}"


def _setting(value: Any) -> str:
    # A setting is shown as given (retry_base_s 0.25, not the table's one decimal "0.2").
    return f"{value:g}" if isinstance(value, float) else _fmt(value)


def settings_rows(summary: dict[str, Any]) -> list[list[str]]:
    return [[str(k), _setting(v)] for k, v in summary.get("settings", {}).items()]


def stack_blocks(variants: dict[str, Any]) -> list[Block]:
    """ "Parked threads": each wedged target's parked workers, the first one's stack."""
    blocks: list[Block] = []
    for name, count, stack in parked_stacks(variants):
        blocks += [Paragraph(f"{name}: {count} parked thread(s); the first:"), BulletList([stack])]
    return [Heading("Parked threads"), *blocks] if blocks else []


def compare_document(
    summary: dict[str, Any],
    plots: Sequence[Path],
    run_dir: Path,
    scenario_plots: Sequence[Path] = (),
    sections: Sequence[Block] = (),
) -> Document:
    """`plots` go under "Plots"; `scenario_plots` (the scenario's own figures) with the verdict,
    then the scenario's own `sections`."""

    def images(paths: Sequence[Path]) -> list[Block]:
        return [Image(p.relative_to(run_dir).as_posix(), p.stem) for p in paths]

    return Document(
        f"Stampede compare: {summary['scenario']} ({summary['run_id']})",
        [
            Paragraph(summary.get("description", "")),
            Heading("Verdict"),
            Callout(summary.get("verdict", [])),
            *stack_blocks(summary.get("variants", {})),
            # The scenario's own figures are the evidence for the verdict: right under it.
            *images(scenario_plots),
            *sections,
            Heading("Summary"),
            Table(*summary_table(summary)),
            Heading("Caps"),
            Table(*caps_table(summary)),
            Heading("Settings"),
            Table(["setting", "value"], settings_rows(summary)),
            Heading("Plots"),
            *images(plots),
            *plot_notes(summary, plots),
            Heading("Notes"),
            BulletList(NOTES),
        ],
    )


def plot_notes(summary: dict[str, Any], plots: Sequence[Path]) -> list[Block]:
    """Why the Plots section holds fewer figures than a run draws, if it does."""
    if skipped := summary.get("plots_skipped"):
        names = ", ".join(skipped)
        return [Paragraph(f"Not drawn, {len(skipped)} figure(s): {names}. The run's deadline "
                          "came first; their data are in timeseries.csv.")]  # fmt: skip
    if not plots:
        return [Paragraph("Not drawn: the run was given --no-plots.")]
    return []


def write_reports(
    run_dir: Path,
    summary: dict[str, Any],
    plots: list[Path],
    scenario_plots: Sequence[Path] = (),
    sections: Sequence[Block] = (),
) -> list[Path]:
    """report.md and the self-contained report.html in `run_dir`; returns both paths."""
    document = compare_document(summary, plots, run_dir, scenario_plots, sections)
    return write_document(document, run_dir, "report")
