"""Black-box hazard detection for a user's server: no code change in it, evidence named.

Fed one sampler row at a time while the storm runs, it:
- classifies the target's stderr into loop-error kinds (stderr_errors.py), filling the row's
  `loop_errors_*` columns when the target has no probe to count them exactly;
- watches progress from the clients' side: requests in flight and successful answers. Fast
  409s and other errors keep flowing from a wedged server, so they are not progress. In flight
  with no success for `stall_s` is a stall;
- on a stall of a command target, probe or not, dumps every thread's stack with py-spy and
  classifies them per pool (stack_evidence.py): every worker of one pool parked in a wait is a
  wedge with evidence "stacks". Where py-spy cannot attach it says why, and the target is
  stalled, not wedged: a stall alone proves no wedge. A stall is often seen while the last
  worker is still busy (a slow model call the parked duplicates wait behind): while the stall
  lasts, the stacks are taken again every `stall_s`, up to STALL_DUMPS times, so a wedge that
  forms after the stall began is still proven.

A target that serves the probe's metrics is read exactly: its wedge is `exact` only when the
probe's own wedge flag was raised (the sampler's `wedged` column, read before this box writes
anything into the row). A stall the probe did not call a wedge is "stalled; the probe saw no
wedge", and its stacks are still taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stampede.loadtest.observe.loop_stacks import LoopWatch
from stampede.loadtest.observe.stack_evidence import StackEvidence, dump, top_user_frame
from stampede.loadtest.observe.stderr_errors import StderrClassifier
from stampede.probe.metrics import LOOP_ERROR_KINDS

DEFAULT_STALL_S = 5.0
STALL_DUMPS = 3  # py-spy dumps while one stall lasts: each costs the target a pause


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
    loop: LoopWatch = field(default_factory=LoopWatch)  # the loop's thread when pings were slow
    probe_wedged_at: float | None = None  # the probe's own wedge flag, first seen
    _last_ok: int = 0
    _progress_at: float | None = None
    _dumps: int = 0  # py-spy dumps taken while the current stall lasts
    _dumped_at: float | None = None

    def observe(self, row: dict[str, Any]) -> None:
        """Read one sample row (and complete it with what only the black box knows)."""
        self.probed |= bool(row.get("probed"))
        if self.stderr_path is not None:
            self.stderr.read_new(self.stderr_path)
            if not row.get("probed"):
                self._fill_loop_errors(row)
        self._watch_progress(row)
        if self.pid is not None and not self.probed:
            self.loop.observe(row, self.pid, self.run_dir, self.stem)

    def _fill_loop_errors(self, row: dict[str, Any]) -> None:
        counts = self.stderr.counts()
        for kind in LOOP_ERROR_KINDS:
            row[f"loop_errors_{kind}"] = counts.get(kind, 0)
        row["loop_errors"] = sum(counts.values())

    def _watch_progress(self, row: dict[str, Any]) -> None:
        t = row.get("t_s")
        if row.get("probed") and row.get("wedged") and self.probe_wedged_at is None:
            self.probe_wedged_at = t if isinstance(t, int | float) else 0.0
        if not isinstance(t, int | float) or "client_ok" not in row:
            return  # the clients' scrape failed this time: no reading of progress
        if self._progress_at is None:
            if row.get("client_users"):
                self._progress_at, self._last_ok = t, int(row["client_ok"])
            return
        ok = int(row["client_ok"])
        if ok > self._last_ok or not row.get("client_inflight"):
            self._progress_at, self._last_ok, self._dumps = t, ok, 0
            return
        if t - self._progress_at < self.stall_s:
            return
        if self.stalled_at_s is None:
            self.stalled_at_s = t
            row["stalled"] = 1
        again = self._dumped_at is None or t - self._dumped_at >= self.stall_s
        if self.pid is not None and not self.stacks_wedged and self._dumps < STALL_DUMPS and again:
            # Probe or not: the stacks are the evidence either way.
            self.stacks = dump(self.pid, self.run_dir, self.stem)
            self._dumps, self._dumped_at = self._dumps + 1, t
            if self.stacks_wedged:
                row["wedged"] = 1

    @property
    def stacks_wedged(self) -> bool:
        """Stacks taken at the stall show every worker of some pool parked in a wait."""
        ok = self.stacks is not None and not self.stacks.error
        return self.stalled_at_s is not None and ok and self.stacks.any_pool_wedged  # type: ignore[union-attr]

    @property
    def wedged(self) -> bool:
        """A wedge with proof: the probe's own flag, or the stacks of a stall."""
        return self.probe_wedged_at is not None or self.stacks_wedged

    def finish(self) -> None:
        """The target has stopped: whatever it printed last is classified too."""
        if self.stderr_path is not None:
            self.stderr.read_new(self.stderr_path, final=True)

    def summary(
        self, exact_wedged: bool | None, peak_parked: int | None, ok_requests: int = 0
    ) -> dict[str, Any]:
        """The variant's wedge fields, each claim with the evidence it rests on. `exact_wedged`
        is the probe's final word (its /v1/status), if it gave one; `ok_requests` (Locust's
        final count) stands in for the progress watch when its scrapes all failed."""
        out: dict[str, Any] = {"stall_s": self.stall_s, "stacks_file": None, "probed": self.probed}
        out["stacks_error"] = self.stacks.error if self.stacks else None
        stacks_ok = self.stacks is not None and not self.stacks.error
        if stacks_ok:
            assert self.stacks is not None
            out["stacks_file"] = self.stacks.text_file
            out["pools"] = [p.as_dict() for p in self.stacks.pools()]
            out["parked_threads"] = [
                {
                    "name": t.name,
                    "pool": t.pool_name,
                    "top_frame": top_user_frame(t.frames),
                    "frames": [f"{fn} ({file}:{line})" for file, fn, line in t.frames],
                }
                for t in self.stacks.threads
                if t.state == "parked" and t.pool_name is not None
            ]
        probe_wedged = self.probe_wedged_at is not None or bool(self.probed and exact_wedged)
        if self.probed:
            out["probe_saw_wedge"] = probe_wedged
        if probe_wedged:
            out.update(wedged=True, wedge_evidence="exact", parked_executor_threads=peak_parked)
        elif self.stacks_wedged:
            assert self.stacks is not None
            parked = sum(p.parked for p in self.stacks.wedged_pools)
            out.update(wedged=True, wedge_evidence="stacks", parked_executor_threads=parked)
        elif self.stalled_at_s is not None:
            parked = sum(p.parked for p in self.stacks.pools()) if stacks_ok else None  # type: ignore[union-attr]
            evidence = "exact" if self.probed else ("stacks" if stacks_ok else "stall")
            out.update(wedged=False, wedge_evidence=evidence, parked_executor_threads=parked)
        elif self.probed:  # the probe watched it all along and raised no wedge
            out.update(wedged=False, wedge_evidence="exact", parked_executor_threads=peak_parked)
        elif self._progress_at is not None or ok_requests > 0:
            out.update(wedged=False, wedge_evidence="stall", parked_executor_threads=None)
        else:  # the storm never got going: nothing to say either way
            out.update(wedged=None, wedge_evidence=None, parked_executor_threads=None)
        if not self.probed:
            out["loop_errors"] = self.stderr.counts()
        return out
