"""The results contract: run directories, atomic writes, and summary.json.

Layout of `results/<run-id>/`: summary.json, timeseries.csv, locust/<variant>_*.csv (+ .log),
server/<variant>.log, plots/*.png, report.html, report.md. `results/latest` points at the
newest completed run. Every whole file we write goes to a temp file first and is renamed into
place, so a reader never sees half a file, even of a run that was killed; timeseries.csv is the
exception: it grows a flushed row per sample, so a killed run keeps what it sampled.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stampede.loadtest.verdict.evidence import evidence_fields
from stampede.loadtest.verdict.intents import variant_intents
from stampede.loadtest.verdict.phases import variant_phases
from stampede.loadtest.verdict.resource_leak import resource_leaks
from stampede.loadtest.verdict.samples import COLUMNS
from stampede.loadtest.verdict.target_verdict import (
    add_states,
    is_target,
    target_description,
    target_verdict,
)

if TYPE_CHECKING:  # annotations only: importing scenarios here would close a cycle through
    # scenarios -> their reports -> report -> results
    from stampede.loadtest.storm.scenarios.scenario import Scenario
    from stampede.loadtest.storm.variant import VariantRecord

FAILURE_KINDS = {
    "ConflictError": "conflict",
    "ClientTimeoutError": "client_timeout",
    "DuplicateTimeoutError": "duplicate_timeout",
    "ThrottledError": "throttled",
    "AbortedError": "aborted",
    "ConnectionFailedError": "connection_error",
    "UnexpectedStatusError": "http_error",
    "SetupFailedError": "setup_failed",
}
ANSWER_ERROR = re.compile(r"^AnswerError\('([a-z0-9_]+)'\)")  # kind: the protocol's own failure
TIMEOUT_KINDS = ("client_timeout", "duplicate_timeout")


@contextlib.contextmanager
def naming(path: Path) -> Iterator[None]:
    """An OSError inside names `path` (a write on an open file, e.g. ENOSPC, names none), so
    the CLI's one-line error says which file failed."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None:
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
    try:
        with naming(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def new_run_id(scenario: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{scenario}-{secrets.token_hex(2)}"


def point_latest(out: Path, run_dir: Path, name: str = "latest") -> None:
    """Swap the `latest` symlink atomically (a relative link, so results/ can be moved)."""
    link = out / name
    tmp = out / f".{name}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(run_dir.name, tmp)
    os.replace(tmp, link)


class TimeseriesLog:
    """timeseries.csv, appended and flushed row by row as samples come in."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle: io.TextIOWrapper | None = path.open("w", newline="")
        self._writer = csv.DictWriter(self._handle, fieldnames=COLUMNS, extrasaction="ignore")
        self._writer.writeheader()
        self._handle.flush()

    def append(self, row: dict[str, Any]) -> None:
        if self._handle is not None:
            with naming(self.path):
                self._writer.writerow(row)
                self._handle.flush()  # in the kernel's hands: a killed harness loses nothing

    def close(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            with naming(self.path), handle:
                handle.flush()
                os.fsync(handle.fileno())


def write_timeseries(path: Path, rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError:
        return []


def _number(text: str | None) -> float | None:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None  # Locust writes "N/A" when there were no requests
    return value if math.isfinite(value) else None


def locust_requests(prefix: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(requests, latency_ms) from Locust's final CSVs for one variant."""
    stats = _read_csv(prefix.with_name(prefix.name + "_stats.csv"))
    failures = _read_csv(prefix.with_name(prefix.name + "_failures.csv"))
    total = next((row for row in stats if row.get("Name") == "Aggregated"), {})
    count = int(_number(total.get("Request Count")) or 0)
    failed = int(_number(total.get("Failure Count")) or 0)
    by_kind: dict[str, int] = {}
    for row in failures:
        error = row.get("Error", "")
        answer = ANSWER_ERROR.match(error)
        kind = answer.group(1) if answer else FAILURE_KINDS.get(error.split("(", 1)[0], "other")
        by_kind[kind] = by_kind.get(kind, 0) + int(_number(row.get("Occurrences")) or 0)
    by_name = {
        row["Name"]: {
            "requests": int(_number(row.get("Request Count")) or 0),
            "failed": int(_number(row.get("Failure Count")) or 0),
        }
        for row in stats
        if row.get("Name") and row.get("Name") != "Aggregated"
    }
    requests = {
        "ok": count - failed,
        "failed": failed,
        "conflict": by_kind.get("conflict", 0),
        "timeout": sum(by_kind.get(k, 0) for k in TIMEOUT_KINDS),
        "failed_by_kind": by_kind,
        "by_name": by_name,
        "source": "locust" if stats else "missing",
    }
    latency = {f"p{p}": _number(total.get(f"{p}%")) for p in (50, 95, 99)}
    return requests, latency


def locust_history(prefix: Path) -> list[dict[str, Any]]:
    """Per-second aggregated rows of Locust's stats history: time, rps, percentiles."""
    rows = []
    for row in _read_csv(prefix.with_name(prefix.name + "_stats_history.csv")):
        if row.get("Name") != "Aggregated":
            continue
        rows.append(
            {
                "timestamp": _number(row.get("Timestamp")),
                "rps": _number(row.get("Requests/s")),
                "failures_per_s": _number(row.get("Failures/s")),
                **{f"p{p}": _number(row.get(f"{p}%")) for p in (50, 95, 99)},
            }
        )
    return rows


def _peak(samples: list[dict[str, Any]], column: str) -> int | None:
    values = [s[column] for s in samples if isinstance(s.get(column), int | float)]
    return int(max(values)) if values else None


def _client_fallback(samples: list[dict[str, Any]]) -> dict[str, Any]:
    # Locust killed before writing its CSVs: the last scrape of its exporter is the record.
    last = next((s for s in reversed(samples) if "client_requests" in s), None)
    if last is None:
        return {"ok": 0, "failed": 0, "conflict": 0, "timeout": 0, "source": "missing"}
    return {
        "ok": last["client_ok"],
        "failed": last["client_failures"],
        "conflict": last["client_conflict"],
        "timeout": last["client_timeout"],
        "source": "client_metrics",
    }


def variant_summary(record: VariantRecord, run_dir: Path, scenario: Scenario) -> dict[str, Any]:
    samples = record.samples
    prefix = run_dir / record.files.get("locust_csv_prefix", f"locust/{record.name}")
    requests, latency = locust_requests(prefix)
    if requests["source"] == "missing":
        requests = _client_fallback(samples)
    status_wedged = bool(record.status.get("wedged"))
    max_workers = record.final.get("executor_max_workers") or _peak(samples, "executor_max_workers")
    tasks_end = record.final.get("event_loop_tasks")
    tasks_start = record.baseline.get("event_loop_tasks")
    stuck = record.status.get("active_requests")
    summary: dict[str, Any] = {
        "wedged": record.wedged_at_s is not None or status_wedged,
        "wedged_at_s": record.wedged_at_s,
        "stalled": record.stalled_at_s is not None,
        "stalled_at_s": record.stalled_at_s,
        "ended": record.ended,
        "ran_s": record.ran_s,
        "teardown_s": record.teardown_s,
        "load_started_s": record.load_started_s,
        "timings": record.timings,
        "executor_max_workers": max_workers,
        "peak_threads": _peak(samples, "threads"),
        "peak_waiter_threads": _peak(samples, "busy_waiter"),
        "peak_executor_queued": _peak(samples, "executor_queued"),
        "peak_event_loop_tasks": _peak(samples, "event_loop_tasks"),
        "peak_waiters": _peak(samples, "waiters"),
        "peak_orphaned_waiter_workers": _peak(samples, "orphaned_waiter_workers"),
        "peak_rss_bytes": _peak(samples, "rss_bytes"),
        "peak_open_fds": _peak(samples, "open_fds"),
        "peak_pool_parked": _peak(samples, "pool_parked"),
        "anyio_limiter": _anyio_peak(samples),
        "baseline_threads": record.baseline.get("process_threads"),
        "requests": requests,
        "latency_ms": latency,
        "loop_errors": record.loop_errors_by_kind,
        "tasks_at_end_by_name": record.final.get("tasks_by_name"),
        # Requests still in flight at the end (stuck behind a wedge) hold a task each: they
        # are counted apart, so leaked_tasks means tasks nothing is waiting for.
        "stuck_inflight": stuck,
        # Model runs for a key whose model had already completed (the server's own count).
        "duplicate_side_effects": _grew(record, "duplicate_side_effects"),
        "leaked_tasks": _leaked(tasks_start, tasks_end, stuck),
        # Both readings of leaked_tasks taken after a server gc pass (else it may count
        # orphans that the next pass would have destroyed, and reported, as leaked).
        "leaked_tasks_after_gc": bool(
            record.gc.get("baseline_after_pass") and record.gc.get("final_after_pass")
        ),
        # A user's server: did its live tasks settle after the clients were gone (None: not
        # measured, e.g. without the probe)? Unsettled leftovers are not called leaks.
        "leaked_tasks_settled": record.gc.get("settled"),
        # Threads, fds and RSS: grown with the load and held after the drain?
        "resources": resource_leaks(
            samples, record.process_start, record.process_end, record.baseline, record.final
        ),
        "caps": record.caps,
        "server_settings": record.server_settings,
        "started_at": _iso(record.started_at),
        "samples": len(samples),
        "locust_exit_code": record.locust_exit_code,
        "server_exit_code": record.server_exit_code,
        "files": record.files,
        "error": record.error,
    }
    summary["intents"] = variant_intents(record, run_dir, summary["stuck_inflight"])
    summary.update(evidence_fields(record, summary))
    summary["phases"] = variant_phases(record, run_dir)
    for hook in scenario.summary_hooks:
        summary.update(hook(record, summary))
    return summary


def _anyio_peak(samples: list[dict[str, Any]]) -> dict[str, Any] | None:
    """anyio's default limiter at its fullest (the probe's gauges): the row with the most
    tokens borrowed, then the most tasks waiting."""
    rows = [s for s in samples if isinstance(s.get("anyio_tokens_total"), int | float)]
    if not rows:
        return None
    top = max(
        rows, key=lambda s: (s.get("anyio_tokens_borrowed") or 0, s.get("anyio_waiting_tasks") or 0)
    )
    return {
        "total": top["anyio_tokens_total"],
        "borrowed": top.get("anyio_tokens_borrowed"),
        "waiting": top.get("anyio_waiting_tasks"),
    }


def _grew(record: VariantRecord, column: str) -> int | None:
    end, start = record.final.get(column), record.baseline.get(column)
    return end - (start or 0) if isinstance(end, int) else None


def _leaked(start: Any, end: Any, stuck: Any) -> int | None:
    if not isinstance(start, int) or not isinstance(end, int):
        return None
    return max(0, end - start - (stuck if isinstance(stuck, int) else 0))


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def build_summary(
    *,
    run_id: str,
    scenario: Scenario,
    started_at: float,
    settings: dict[str, Any],
    variants: dict[str, dict[str, Any]],
    complete: bool,
    deadline_s: float,
) -> dict[str, Any]:
    verdict = scenario.verdict(variants) if scenario.verdict and variants else []
    if any(is_target(v) for v in variants.values()):
        add_states(variants)
        own = verdict if scenario.verdict_on_targets else []
        verdict = target_verdict(variants) + own
    return {
        "run_id": run_id,
        "scenario": scenario.name,
        "description": target_description(variants, scenario.user_classes) or scenario.description,
        "started_at": _iso(started_at),
        "finished_at": _iso(time.time()) if complete else None,
        "wall_time_s": round(time.time() - started_at, 2),
        "deadline_s": deadline_s,
        "complete": complete,
        "settings": settings,
        "variants": variants,
        "verdict": verdict,
    }
