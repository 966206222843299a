"""Black-box hazard detection for a user's server: no code change in it, evidence named.

Fed one sampler row at a time while the storm runs, it:
- classifies the target's stderr into loop-error kinds (stderr_errors.py), filling the row's
  `loop_errors_*` columns when the target has no probe to count them exactly;
- watches progress from the clients' side: requests in flight and successful answers. Fast
  409s and other errors keep flowing from a wedged server, so they are not progress. In flight
  with no success for `stall_s` is a stall;
- on a stall of a command target without the probe, dumps every thread's stack with py-spy and
  classifies them (stack_evidence.py): every default-executor worker parked in a wait is a
  wedge with evidence "stacks". Where py-spy cannot attach it says why, and the claim rests on
  the stall alone (evidence "stall").

A target that serves the probe's metrics is read exactly (evidence "exact"); the stall watch
still runs, but its stacks are not needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stampede.loadtest.observe.stack_evidence import StackEvidence, dump
from stampede.loadtest.observe.stderr_errors import StderrClassifier
from stampede.probe.metrics import LOOP_ERROR_KINDS

DEFAULT_STALL_S = 5.0


@dataclass
class BlackBox:
    pid: int | None  # None: a URL target (no process of ours to read)
    stderr_path: Path | None
    stall_s: float
    run_dir: Path
    stem: str  # names the stacks files
    stderr: StderrClassifier = field(default_factory=StderrClassifier)
    stalled_at_s: float | None = None
    stacks: StackEvidence | None = None
    probed: bool = False  # the target served the probe's metrics at least once
    _last_ok: int = 0
    _progress_at: float | None = None

    def observe(self, row: dict[str, Any]) -> None:
        """Read one sample row (and complete it with what only the black box knows)."""
        self.probed |= bool(row.get("probed"))
        if self.stderr_path is not None:
            self.stderr.read_new(self.stderr_path)
            if not row.get("probed"):
                self._fill_loop_errors(row)
        self._watch_progress(row)

    def _fill_loop_errors(self, row: dict[str, Any]) -> None:
        counts = self.stderr.counts()
        for kind in LOOP_ERROR_KINDS:
            row[f"loop_errors_{kind}"] = counts.get(kind, 0)
        row["loop_errors"] = sum(counts.values())

    def _watch_progress(self, row: dict[str, Any]) -> None:
        t = row.get("t_s")
        if not isinstance(t, int | float) or "client_ok" not in row:
            return  # the clients' scrape failed this time: no reading of progress
        if self._progress_at is None:
            if row.get("client_users"):
                self._progress_at, self._last_ok = t, int(row["client_ok"])
            return
        ok = int(row["client_ok"])
        if ok > self._last_ok or not row.get("client_inflight"):
            self._progress_at, self._last_ok = t, ok
            return
        if self.stalled_at_s is None and t - self._progress_at >= self.stall_s:
            self.stalled_at_s = t
            row["stalled"] = 1
            if self.pid is not None and not self.probed:
                self.stacks = dump(self.pid, self.run_dir, self.stem)
            if self.wedged:
                row["wedged"] = 1

    @property
    def wedged(self) -> bool:
        """Black-box wedge: a stall whose stacks show a parked default executor, or a stall
        that could not be looked into (the claim then rests on the stall alone)."""
        if self.stalled_at_s is None:
            return False
        if self.stacks is None or self.stacks.error:
            return True
        return self.stacks.wedged

    def finish(self) -> None:
        """The target has stopped: whatever it printed last is classified too."""
        if self.stderr_path is not None:
            self.stderr.read_new(self.stderr_path, final=True)

    def summary(
        self, exact_wedged: bool | None, peak_parked: int | None, ok_requests: int = 0
    ) -> dict[str, Any]:
        """The variant's wedge fields, each claim with the evidence it rests on. `ok_requests`
        (Locust's final count) stands in for the progress watch when its scrapes all failed."""
        out: dict[str, Any] = {"stall_s": self.stall_s, "stacks_file": None}
        out["stacks_error"] = self.stacks.error if self.stacks else None
        if self.stacks is not None and not self.stacks.error:
            out["stacks_file"] = self.stacks.text_file
            out["parked_threads"] = [
                {"name": t.name, "frames": [f"{fn} ({file}:{line})" for file, fn, line in t.frames]}
                for t in self.stacks.parked_default + self.stacks.parked_other
            ]
        if self.probed and exact_wedged is not None:
            out.update(wedged=exact_wedged, wedge_evidence="exact")
            out["parked_executor_threads"] = peak_parked
        elif self.stalled_at_s is not None and self.stacks is not None and not self.stacks.error:
            out.update(wedged=self.stacks.wedged, wedge_evidence="stacks")
            # The pool that wedged: the default executor's, else anyio's worker threads.
            parked = self.stacks.parked_default
            if not self.stacks.executor_wedged and self.stacks.anyio_wedged:
                parked = self.stacks.anyio_parked
            out["parked_executor_threads"] = len(parked)
        elif self.stalled_at_s is not None:
            out.update(wedged=True, wedge_evidence="stall", parked_executor_threads=None)
        elif self._progress_at is not None or ok_requests > 0:
            out.update(wedged=False, wedge_evidence="stall", parked_executor_threads=None)
        else:  # the storm never got going: nothing to say either way
            out.update(wedged=None, wedge_evidence=None, parked_executor_threads=None)
        if not self.probed:
            out["loop_errors"] = self.stderr.counts()
        return out
