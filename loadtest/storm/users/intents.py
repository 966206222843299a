"""Intents: one logical request each, and every attempt made for it.

An intent is what a caller wants done once; its primary, its concurrent duplicates and its
retries are attempts. Users open an intent (`LOG.open`), record each attempt's outcome on it,
and close it; the log keeps the closed ones until they are written out.

Distributed mode: attempts run where the users run, so each worker drains its closed intents
into every report it sends the master (as client_metrics does), and only the master (or a
single local runner) writes the file: `--intents-file PATH`, JSON lines, a `meta` line first.
It is rewritten at every test stop and at exit, so a run stopped by SIGTERM keeps its intents.
Intents still open at the stop (cut by the run's end) are written with outcome "cut".
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from locust import events
from locust.runners import WorkerRunner
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from stampede.loadtest.storm.users.arguments import storm_options
from stampede.loadtest.storm.users.client_metrics import EXTRA_FAMILIES

log = logging.getLogger("stampede.intents")

REPORT_KEY = "stampede_intents"
TIMEOUT_KINDS = ("client_timeout", "duplicate_timeout")
# Attempts that never reached the server: a local throttle (adaptive retries) said no.
LOCAL_KINDS = ("rejected_locally",)


@dataclass
class Intent:
    id: str
    variant: str
    agent: str
    intended: float  # wall clock: when the schedule wanted it to start
    started: float | None  # wall clock; None: dropped, the generator could not start it
    # [label, started, ended, outcome] per attempt, wall clock; an attempt still in flight
    # has ended None and outcome "inflight" (it shows so if the run cuts the intent)
    attempts: list[list[Any]] = field(default_factory=list)
    succeeded: float | None = None  # wall clock of the first successful attempt
    ended: float | None = None
    outcome: str = "open"  # succeeded | timed_out | failed | dropped | cut
    kind: str | None = None  # failed: the last attempt's failure kind
    samples: dict[str, str] = field(default_factory=dict)  # "outcome status" -> body sample

    def begin(self, label: str, started: float) -> list[Any]:
        attempt = [label, round(started, 4), None, "inflight"]
        self.attempts.append(attempt)
        return attempt

    def end(
        self, attempt: list[Any], ended: float, outcome: str, status: int = 0, sample: str = ""
    ) -> None:
        """`status` (0: none came) becomes the attempt's fifth field; a failure's `sample` of
        the body or exception is kept once per outcome and status, for the report."""
        attempt[2], attempt[3] = round(ended, 4), outcome
        if status:
            attempt.append(status)
        if outcome != "ok" and sample:
            self.samples.setdefault(f"{outcome} {status}", sample)
        if outcome == "ok" and (self.succeeded is None or ended < self.succeeded):
            self.succeeded = round(ended, 4)

    def record(self, label: str, started: float, ended: float, outcome: str) -> None:
        self.end(self.begin(label, started), ended, outcome)

    def close(self, now: float) -> None:
        self.ended = round(now, 4)
        self.outcome, self.kind = settle(self.succeeded, self.attempts)

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "variant": self.variant,
            "agent": self.agent,
            "intended": round(self.intended, 4),
            "started": None if self.started is None else round(self.started, 4),
            "attempts": [list(a) for a in self.attempts],
            "succeeded": self.succeeded,
            "ended": self.ended,
            "outcome": self.outcome,
            "kind": self.kind,
            **({"samples": dict(self.samples)} if self.samples else {}),
        }


def settle(succeeded: float | None, attempts: list[list[Any]]) -> tuple[str, str | None]:
    """(outcome, failure kind) of an intent from its attempts: succeeded if any attempt got the
    answer, else timed out if the last attempt to end timed out, else failed by that kind."""
    if succeeded is not None:
        return "succeeded", None
    sent = [a for a in attempts if a[3] not in LOCAL_KINDS and a[2] is not None]
    if not sent:
        return "failed", "rejected_locally" if attempts else "no_attempt"
    last = max(sent, key=lambda a: a[2])[3]
    if last in TIMEOUT_KINDS:
        return "timed_out", last
    return "failed", last


class IntentLog:
    """Open and closed intents of this process; closed ones can be drained and merged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.open_intents: dict[str, Intent] = {}
        self.closed: list[dict[str, Any]] = []
        self.counts: Counter[tuple[str, str]] = Counter()  # (variant, outcome) -> intents
        self.meta: dict[str, Any] = {}

    def open(
        self, intent_id: str, variant: str, agent: str, intended: float, started: float
    ) -> Intent:
        intent = Intent(intent_id, variant, agent, intended, started)
        with self._lock:
            self.open_intents[intent_id] = intent
        return intent

    def close(self, intent: Intent, now: float | None = None) -> None:
        intent.close(time.time() if now is None else now)
        with self._lock:
            # Already cut by a stop: it was written as such, once.
            if self.open_intents.pop(intent.id, None) is not None:
                self._keep(intent.row())

    def drop(self, intent_id: str, variant: str, intended: float) -> None:
        """A scheduled start the generator could not make (too many intents in flight)."""
        intent = Intent(intent_id, variant, "", intended, None, outcome="dropped")
        with self._lock:
            self._keep(intent.row())

    def cut_open(self, now: float | None = None) -> int:
        """Close every open intent as cut by the run's end; returns how many."""
        now = time.time() if now is None else now
        with self._lock:
            cut = list(self.open_intents.values())
            self.open_intents.clear()
            for intent in cut:
                intent.ended = round(now, 4)
                intent.outcome = "succeeded" if intent.succeeded is not None else "cut"
                intent.kind = None if intent.succeeded is not None else "cut"
                self._keep(intent.row())
        return len(cut)

    def _keep(self, row: dict[str, Any]) -> None:
        self.closed.append(row)
        self.counts[(row["variant"], row["outcome"])] += 1

    def drain(self) -> list[dict[str, Any]]:
        with self._lock:
            rows, self.closed = self.closed, []
        return rows

    def merge(self, rows: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            for row in rows:
                self._keep(dict(row))

    def reset(self) -> None:
        with self._lock:
            self.open_intents.clear()
            self.closed.clear()
            self.counts.clear()
            self.meta = {}

    def families(self) -> Iterable[Any]:
        with self._lock:
            counts = dict(self.counts)
            t0 = self.meta.get("t0")
        counter = CounterMetricFamily(
            "stampede_client_intents",
            "Logical requests (intents) the storm closed, by variant and outcome.",
            labels=["variant", "outcome"],
        )
        for key, n in sorted(counts.items()):
            counter.add_metric(list(key), n)
        yield counter
        if isinstance(t0, float):
            # The harness times its triggers (a CPU-quota drop) against this schedule start.
            yield GaugeMetricFamily(
                "stampede_client_schedule_start_seconds",
                "Wall-clock time the storm's schedule started (its phases count from here).",
                value=t0,
            )

    def write(self, path: Path) -> None:
        """Every intent so far, meta line first; a temp file renamed into place."""
        with self._lock:
            rows = list(self.closed)
            rows += [i.row() for i in self.open_intents.values()]
            meta = {"type": "meta", **self.meta, "written_at": round(time.time(), 4)}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("w") as handle:
            handle.write(json.dumps(meta) + "\n")
            for row in rows:
                handle.write(json.dumps(row, separators=(",", ":")) + "\n")
        os.replace(tmp, path)


LOG = IntentLog()
EXTRA_FAMILIES.append(LOG.families)
_state: dict[str, Any] = {"path": None, "writer": False}


def note_meta(**values: Any) -> None:
    """Run facts the analysis needs (schedule start, phases), written in the meta line."""
    with LOG._lock:
        LOG.meta.update(values)


def _write(environment: Any) -> None:
    path = _state["path"]
    if not path or not _state["writer"]:
        return
    try:
        LOG.write(Path(path))
    except OSError as exc:  # losing the file costs the intents, never the storm
        log.error("intents not written to %s: %s", path, exc)


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    path = getattr(environment.parsed_options, "intents_file", "") or ""
    _state["path"] = path or None
    _state["writer"] = not isinstance(environment.runner, WorkerRunner)


@events.test_start.add_listener
def _on_test_start(environment: Any, **_: Any) -> None:
    LOG.reset()  # a new run from the web UI starts a new record
    note_meta(t0=round(time.time(), 4))
    try:
        o = storm_options(environment.parsed_options)
    except ValueError:
        return  # the users report bad options
    note_meta(
        client_timeout=o.client_timeout,
        duplicates=o.duplicates,
        retry_policy=o.retry_policy,
        arrival=None if o.arrival is None else {"start": o.arrival.start, "end": o.arrival.end},
        phases=[[p.name, p.start_s, p.end_s] for p in o.phases],
        trigger=None if o.trigger is None else str(o.trigger),
    )


@events.test_stopping.add_listener
def _on_test_stopping(environment: Any, **_: Any) -> None:
    # Before the users are stopped (that takes a moment): the end of the schedule.
    note_meta(stopped_at=round(time.time(), 4))


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_: Any) -> None:
    if "stopped_at" not in LOG.meta:
        note_meta(stopped_at=round(time.time(), 4))
    LOG.cut_open()
    _write(environment)


@events.quitting.add_listener
def _on_quitting(environment: Any, **_: Any) -> None:
    LOG.cut_open()
    _write(environment)


@events.report_to_master.add_listener
def _on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data[REPORT_KEY] = LOG.drain()


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    if REPORT_KEY in data:
        LOG.merge(data[REPORT_KEY])
