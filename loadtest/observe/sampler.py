"""One sample of a running variant: the server process (psutil), its /metrics, the clients'.

Every source is optional per sample: a scrape that fails or times out leaves its columns empty
instead of stalling the 0.5 s cadence, and the row records which scrapes worked.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families
from stampede.loadtest.observe.responsiveness import Pinger
from stampede.probe.metrics import LOOP_ERROR_KINDS

SCRAPE_TIMEOUT_S = 0.4

_GAUGES = {
    "stampede_executor_max_workers": "executor_max_workers",
    "stampede_executor_queued_items": "executor_queued",
    "stampede_event_loop_tasks": "event_loop_tasks",
    "stampede_idempotency_waiters": "waiters",
    "stampede_inflight_primaries": "inflight_primaries",
    "stampede_orphaned_waiter_workers": "orphaned_waiter_workers",
    "stampede_wedged": "wedged",
    "stampede_stalled": "stalled",
    "stampede_model_calls_total": "model_calls",
    "stampede_process_threads": "process_threads",
    "stampede_executor_parked_workers": "executor_parked",
    "stampede_duplicate_side_effects_total": "duplicate_side_effects",
    # anyio's default thread limiter, where every sync route of FastAPI/Starlette runs
    "stampede_anyio_tokens_total": "anyio_tokens_total",
    "stampede_anyio_tokens_borrowed": "anyio_tokens_borrowed",
    "stampede_anyio_waiting_tasks": "anyio_waiting_tasks",
    "stampede_http_requests_in_flight": "http_in_flight",
}
# The loop's own figures (the probe's): ticks and their lag, and its thread's CPU time.
_LOOP_FLOATS = {
    "stampede_event_loop_lag_seconds_count": "loop_ticks",
    "stampede_event_loop_lag_seconds_sum": "loop_lag_s",
    "stampede_event_loop_thread_cpu_seconds_total": "loop_cpu_s",
}
LATE_S = 0.1  # a tick later than this is a late one (a lag bucket's bound)
TIMEOUT_OUTCOMES = {"client_timeout", "duplicate_timeout"}


def parse_server_metrics(text: str) -> dict[str, Any]:
    """The server's /metrics flattened to the timeseries columns (one `loop_errors_<kind>`
    column per kind, zero when the server has not counted that kind), plus the raw by-kind and
    by-task-name dicts."""
    out: dict[str, Any] = {"loop_errors_by_kind": {}, "tasks_by_name": {}}
    # The server's own invocation counts: only where it exports them (a user's server may
    # not), so an unknown figure stays unknown instead of reading 0.
    invocations: dict[str, int] = {"server_ok": 0, "server_failed": 0}
    counted = False
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in _GAUGES:
                out[_GAUGES[s.name]] = int(s.value)
            elif s.name == "stampede_executor_busy_workers":
                out[f"busy_{s.labels.get('kind', 'other')}"] = int(s.value)
            elif s.name == "stampede_invocations_total":
                key = "server_ok" if s.labels.get("outcome") == "ok" else "server_failed"
                invocations[key] += int(s.value)
                counted = True
            elif s.name == "stampede_event_loop_tasks_by_name":
                out["tasks_by_name"][s.labels.get("name", "?")] = int(s.value)
            elif s.name in _LOOP_FLOATS:
                out[_LOOP_FLOATS[s.name]] = float(s.value)
            elif s.name == "stampede_event_loop_lag_seconds_bucket" and _le(s.labels) == LATE_S:
                out["loop_ticks_on_time"] = int(s.value)
            elif s.name == "stampede_pool_parked_workers":
                out["pool_parked"] = max(out.get("pool_parked", 0), int(s.value))
            elif s.name == "stampede_loop_errors_total":
                out["loop_errors_by_kind"][s.labels.get("kind", "other")] = int(s.value)
    if counted:
        out.update(invocations)
    # A server that serves Stampede's metrics (built-in, or with stampede.probe installed).
    out["probed"] = int("wedged" in out)
    by_kind = out["loop_errors_by_kind"]
    out["loop_errors"] = sum(by_kind.values())
    out.update({f"loop_errors_{kind}": by_kind.get(kind, 0) for kind in LOOP_ERROR_KINDS})
    return out


def _le(labels: dict[str, str]) -> float | None:
    try:
        return float(labels.get("le", ""))
    except ValueError:
        return None


def parse_client_metrics(text: str) -> dict[str, Any]:
    """The locustfile's stampede_client_* export, summed over variants and request names."""
    out = {k: 0 for k in ("client_requests", "client_ok", "client_conflict", "client_timeout")}
    out["client_users"] = 0
    setup_ok = 0  # a workload's setup steps that succeeded: neither answers nor failures
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "stampede_client_requests_total":
                n, outcome = int(s.value), s.labels.get("outcome", "")
                out["client_requests"] += n
                out["client_ok"] += n if outcome == "ok" else 0
                out["client_conflict"] += n if outcome == "conflict" else 0
                out["client_timeout"] += n if outcome in TIMEOUT_OUTCOMES else 0
                setup_ok += n if outcome == "setup_ok" else 0
            elif s.name == "stampede_client_users":
                out["client_users"] = int(s.value)
            elif s.name == "stampede_client_inflight":
                out["client_inflight"] = int(s.value)
            elif s.name == "stampede_client_schedule_start_seconds":
                out["client_schedule_start"] = float(s.value)
    out["client_failures"] = out["client_requests"] - out["client_ok"] - setup_ok
    return out


class Sampler:
    """Takes rows for one variant; t_s counts from `t0` (monotonic), the Locust start."""

    def __init__(
        self,
        variant: str,
        pid: int | None,
        server_url: str,
        client_url: str | None,
        t0: float,
        ping_path: str | None = None,
        ping_overlap: bool = False,
    ) -> None:
        self.variant = variant
        self.server_url = server_url
        self.client_url = client_url
        self.t0 = t0
        self._http = httpx.Client(timeout=SCRAPE_TIMEOUT_S)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="stampede-sampler")
        self._previous: dict[str, Any] | None = None
        self.loop_errors_by_kind: dict[str, int] = {}
        self._children: dict[int, psutil.Process] = {}
        # The loop-responsiveness series (responsiveness.py), for the scenarios that ask for it.
        self.pinger = Pinger(server_url + ping_path, t0, ping_overlap) if ping_path else None
        try:
            # None: a server someone else started (a URL target); no process to read.
            self._process: psutil.Process | None = None if pid is None else psutil.Process(pid)
            if self._process is not None:
                self._process.cpu_percent(None)  # first call only primes the counter
        except psutil.Error:
            self._process = None

    def close(self) -> None:
        if self.pinger is not None:
            self.pinger.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()

    def sample(self) -> dict[str, Any]:
        now = time.monotonic()
        server = self._pool.submit(self._scrape, f"{self.server_url}/metrics", parse_server_metrics)
        client = (
            self._pool.submit(self._scrape, self.client_url, parse_client_metrics)
            if self.client_url
            else None
        )
        row: dict[str, Any] = {"variant": self.variant, "t_s": round(now - self.t0, 3)}
        row["wall_time"] = round(time.time(), 3)
        row.update(self._process_stats())
        server_values = _result(server)
        client_values = _result(client) if client else None
        row["server_scrape_ok"] = int(server_values is not None)
        row["client_scrape_ok"] = int(client_values is not None)
        if server_values:
            self.loop_errors_by_kind = server_values.pop("loop_errors_by_kind")
            server_values.pop("tasks_by_name")
            row.update(server_values)
        if client_values:
            row.update(client_values)
        self._add_rates(row, now)
        if self.pinger is not None:
            # The slowest cheap request answered since the previous row (the series' point).
            pings = self.pinger.take()
            if pings:
                row["ping_ms"] = round(max(latency for _, latency, _ in pings) * 1000, 1)
        return row

    def _scrape(self, url: str, parse: Any) -> dict[str, Any] | None:
        try:
            response = self._http.get(url)
            response.raise_for_status()
            return parse(response.text)
        except (httpx.HTTPError, ValueError):
            return None

    def _process_stats(self) -> dict[str, Any]:
        """The server's whole process tree (a user's command may fork workers), summed."""
        if self._process is None:
            return {}
        try:
            tree = [self._process, *self._process.children(recursive=True)]
        except psutil.Error:  # exited between samples: keep the row, without these columns
            return {}
        totals = {"threads": 0, "rss_bytes": 0, "cpu_percent": 0.0, "open_fds": 0}
        for process in tree:
            try:
                with process.oneshot():
                    totals["threads"] += process.num_threads()
                    totals["rss_bytes"] += process.memory_info().rss
                    totals["cpu_percent"] += self._cpu(process)
                    totals["open_fds"] += process.num_fds()
            except psutil.Error:  # a child that ended meanwhile
                continue
        totals["cpu_percent"] = round(totals["cpu_percent"], 1)
        return {**totals, "processes": len(tree)}

    def _cpu(self, process: psutil.Process) -> float:
        # cpu_percent is measured since the previous call on the same Process object.
        known = self._children.setdefault(process.pid, process)
        return known.cpu_percent(None)

    def _add_rates(self, row: dict[str, Any], now: float) -> None:
        if "client_requests" not in row:
            return  # this sample's client scrape failed: the next one spans both intervals
        previous, self._previous = self._previous, {**row, "_now": now}
        if previous is None or now <= previous["_now"]:
            return
        dt = now - previous["_now"]
        row["client_rps"] = round((row["client_requests"] - previous["client_requests"]) / dt, 2)
        failed = row["client_failures"] - previous["client_failures"]
        row["client_failures_per_s"] = round(failed / dt, 2)


def _result(future: Any) -> dict[str, Any] | None:
    try:
        return future.result(timeout=SCRAPE_TIMEOUT_S + 0.2)
    except Exception:  # a hung scrape costs one sample's columns, never the loop
        return None
