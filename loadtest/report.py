"""report.md and report.html from summary.json and the plots.

The HTML is self-contained: CSS inline, images embedded as base64 data URIs, and no external
URL anywhere, so it can be mailed, archived or opened offline as one file.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stampede.loadtest.results import atomic_write_text

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
    ("goodput (intents/s)", _intent("goodput_per_s")),
    ("amplification (attempts/intent)", _intent("attempts_per_intent")),
    ("server invocations/intent", _intent("server_invocations_per_intent")),
    ("retry ratio", _intent("retry_ratio")),
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


# Only for scenarios whose summary hook adds a `hazard` block (loadtest/hazard_report.py).
HAZARD_ROWS: list[Row] = [
    ("hazard result", _hazard("result")),
    ("hazard triggers", _hazard("triggers")),
    ("hazard errors", _hazard("errors")),
    ("errors per trigger", _hazard("errors_per_trigger")),
    ("peak live tasks above baseline", _hazard("peak_tasks_above_baseline")),
]


def summary_table(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    variants = summary.get("variants", {})
    header = ["", *variants]
    table = list(SUMMARY_ROWS)
    if any(v.get("intents") for v in variants.values()):
        table = HEADLINE_ROWS + table
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


def settings_rows(summary: dict[str, Any]) -> list[list[str]]:
    return [[str(k), _fmt(v)] for k, v in summary.get("settings", {}).items()]


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), line(["---"] * len(header)), *map(line, rows)])


def render_markdown(
    summary: dict[str, Any], plots: list[Path], run_dir: Path, scenario_plots: Sequence[Path] = ()
) -> str:
    parts = [
        f"# Stampede compare: {summary['scenario']} ({summary['run_id']})",
        "",
        summary.get("description", ""),
        "",
        "## Verdict",
        "",
        *(f"- {line}" for line in summary.get("verdict", [])),
        "",
        # The scenario's own figures are the evidence for the verdict: right under it.
        *(f"![{p.stem}]({p.relative_to(run_dir)})\n" for p in scenario_plots),
        "## Summary",
        "",
        _md_table(*summary_table(summary)),
        "",
        "## Caps",
        "",
        _md_table(*caps_table(summary)),
        "",
        "## Settings",
        "",
        _md_table(["setting", "value"], settings_rows(summary)),
        "",
        "## Plots",
        "",
        *(f"![{p.stem}]({p.relative_to(run_dir)})\n" for p in plots),
        "## Notes",
        "",
        *(f"- {note}" for note in NOTES),
        "",
    ]
    return "\n".join(parts)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}
th{background:#f3f3f3;text-align:left}td{text-align:right}td:first-child{text-align:left}
.verdict{font-size:1.15em;background:#fff4e5;border-left:4px solid #d62728;padding:.6em 1em}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}
"""


def _html_images(plots: Sequence[Path]) -> str:
    return "".join(
        f'<h3>{html.escape(p.stem)}</h3><img alt="{html.escape(p.stem)}" '
        f'src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">'
        for p in plots
    )


def render_html(
    summary: dict[str, Any], plots: list[Path], scenario_plots: Sequence[Path] = ()
) -> str:
    title = html.escape(f"Stampede compare: {summary['scenario']} ({summary['run_id']})")
    verdict = "".join(f"<li>{html.escape(line)}</li>" for line in summary.get("verdict", []))
    evidence = _html_images(scenario_plots)
    images = _html_images(plots)
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in NOTES)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body><h1>{title}</h1>"
        f"<p>{html.escape(summary.get('description', ''))}</p>"
        f'<h2>Verdict</h2><ul class="verdict">{verdict}</ul>{evidence}'
        f"<h2>Summary</h2>{_html_table(*summary_table(summary))}"
        f"<h2>Caps</h2>{_html_table(*caps_table(summary))}"
        f"<h2>Settings</h2>{_html_table(['setting', 'value'], settings_rows(summary))}"
        f"<h2>Plots</h2>{images}<h2>Notes</h2><ul>{notes}</ul></body></html>\n"
    )


def write_reports(
    run_dir: Path, summary: dict[str, Any], plots: list[Path], scenario_plots: Sequence[Path] = ()
) -> list[Path]:
    """`plots` go under "Plots"; `scenario_plots` (the scenario's own figures) with the verdict."""
    md, page = run_dir / "report.md", run_dir / "report.html"
    atomic_write_text(md, render_markdown(summary, plots, run_dir, scenario_plots))
    atomic_write_text(page, render_html(summary, plots, scenario_plots))
    return [md, page]
