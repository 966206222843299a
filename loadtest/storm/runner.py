"""Run one variant: capped server, headless Locust, 0.5 s sampling, and a guaranteed teardown.

Every step is bounded by the variant's deadline, and teardown runs whatever happened (an error,
a wedge, Ctrl-C): Locust's process group is stopped, the server is stopped and its cgroups
removed, and what was measured so far stays in the returned record. The teardown's waits are
also cut to the run's hard end, so a target that ignores SIGTERM cannot push the run past it.

Live tasks are read at both ends after one of the server's gc passes (the start baseline and
the final reading): a task orphaned by the load is only destroyed, and reported, by a pass.
"""

from __future__ import annotations

import contextlib
import math
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from stampede.loadtest.observe.blackbox import BlackBox
from stampede.loadtest.observe.idle_phase import idle_phase
from stampede.loadtest.observe.process_figures import drained_figures, process_figures
from stampede.loadtest.observe.sampler import Sampler
from stampede.loadtest.observe.server_http import (
    GC_WAIT_MARGIN_S,
    VariantError,
    after_gc_pass,
    drain_tasks,
    gc_state,
    get_json,
    scrape_server,
)
from stampede.loadtest.process.launcher import Handle, LaunchError, launch, tail
from stampede.loadtest.process.processes import (
    deferred_interrupts,
    free_port,
    spawn,
    stop_group,
)
from stampede.loadtest.storm.cpu_trigger import CpuTrigger
from stampede.loadtest.storm.variant import VariantPlan, VariantRecord
from stampede.loadtest.storm.workers import master_args, stall_bound, start_workers

SAMPLE_EVERY_S = 0.5
HEALTH_TIMEOUT_S = 20.0
LOCUST_TAIL_S = 4.0  # Locust's start-up before its --run-time clock starts, until measured
LOCUST_EXIT_S = 2.0  # from the end of its --run-time to its exit: stop users, write CSVs
LOCUST_STOP_S = 2.0  # Locust writes its CSVs and exits well within this on SIGTERM
SERVER_STOP_S = 3.0  # a wedged server aborts its waiters and exits in about 1 s; SIGKILL after
TARGET_DRAIN_S = 3.0  # a user's server: at most this long for its in-flight requests to end
SETTLE_S = 1.5  # let a healthy server finish in-flight work before measuring leftovers
# What a teardown needs even when its waits are cut to nothing: SIGKILL reaps (1 s each for
# Locust and the server), the cgroup drain (1 s), up to five 0.5 s reads of a hung server.
TEARDOWN_MIN_S = 6.0
STEP_FLOOR_S = 0.1  # a cut wait still gives a process this long to act on SIGTERM
LOCUSTFILE = Path(__file__).with_name("locustfile.py")

Progress = Callable[[dict[str, Any]], None]


def locust_argv(plan: VariantPlan, url: str, csv_prefix: Path, metrics_port: int) -> list[str]:
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *plan.user_classes]
    argv += ["--headless", "--only-summary", "--exit-code-on-error", "0", "--stop-timeout", "0"]
    argv += ["--users", str(plan.users), "--spawn-rate", str(plan.users)]
    argv += ["--run-time", f"{math.ceil(plan.duration_s)}s", "--host", url]
    argv += ["--targets", f"{plan.variant}={url}", "--csv", str(csv_prefix)]
    argv += ["--prometheus-port", str(metrics_port), "--prometheus-host", "127.0.0.1"]
    for name, value in plan.locust_args.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


class VariantRun:
    """State of one variant while it runs; `run()` always tears down what it started."""

    def __init__(
        self, plan: VariantPlan, deadline: float, progress: Progress, hard_end: float | None
    ) -> None:
        self.plan = plan
        self.deadline = deadline  # load and start-up stop here (monotonic)
        self.hard_end = hard_end  # the teardown ends here; None: its waits take their nominal
        self.progress = progress
        self.begun = time.monotonic()
        self.load_ended: float | None = None
        self.record = VariantRecord(plan.variant, dict(plan.server_settings))
        self.record.target_info = plan.target_info
        self.server: Handle | None = None
        self._cpu_trigger: CpuTrigger | None = None
        self.locust: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.sampler: Sampler | None = None
        self.logs: list[IO[bytes]] = []
        self.url = ""

    def run(self) -> VariantRecord:
        """Never raises KeyboardInterrupt: an interrupted variant returns with ended
        "interrupted", after its teardown, and the caller decides what to do next."""
        self.begun = time.monotonic()
        try:
            self._start_server()
            self._start_locust()
            self._sample()
        except VariantError as exc:
            self.record.ended, self.record.error = "error", str(exc)
        except KeyboardInterrupt:
            self.record.ended = "interrupted"
        finally:
            try:
                with deferred_interrupts():
                    self._teardown()
            except KeyboardInterrupt:  # arrived during teardown, which still ran to the end
                self.record.ended = "interrupted"
        self._time_phases()
        return self.record

    def _time_phases(self) -> None:
        """The record's timings; the compare run budgets later variants from overhead_s."""
        ended = time.monotonic()
        timings: dict[str, float | None] = {"wall_s": ended - self.begun}
        timings["teardown_s"] = self.record.teardown_s
        load_at = self._load_started_at()
        if load_at is not None and self.load_ended is not None:
            timings["startup_s"] = load_at - self.begun
            timings["load_s"] = max(0.0, self.load_ended - load_at)
            loaded = min(self.plan.duration_s, timings["load_s"])
            timings["overhead_s"] = timings["wall_s"] - loaded
        self.record.timings = {k: None if v is None else round(v, 3) for k, v in timings.items()}

    def _load_started_at(self) -> float | None:
        if self.sampler is None or self.record.load_started_s is None:
            return None
        return self.sampler.t0 + self.record.load_started_s

    def _cut(self, nominal: float) -> float:
        """A teardown wait's bound: `nominal`, cut so the teardown still ends by the run's hard
        end with TEARDOWN_MIN_S left for what cannot be cut (SIGKILL reaps, cgroups, reads)."""
        if self.hard_end is None:
            return nominal
        return max(STEP_FLOOR_S, min(nominal, self.hard_end - TEARDOWN_MIN_S - time.monotonic()))

    def _open_log(self, relative: str, key: str) -> IO[bytes]:
        path = self.plan.run_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("wb")
        self.logs.append(handle)
        self.record.files[key] = relative
        return handle

    def _start_server(self) -> None:
        relative = f"server/{self.plan.variant}.log"
        self.record.files["server_log"] = relative
        try:
            self.server = launch(
                self.plan.target,
                log_path=self.plan.run_dir / relative,
                deadline=self.deadline,
                health_timeout_s=HEALTH_TIMEOUT_S,
            )
        except LaunchError as exc:
            raise VariantError(str(exc)) from None
        self.url = self.server.base_url
        self.record.caps = self.server.caps or {}
        if self.plan.stall_s is not None:
            self._watch_black_box(self.server)
        # No pass yet (it comes one gc interval after start-up): wait for it, so leftovers of
        # the start-up are gone from the baseline as they will be from the final reading.
        self.record.gc["baseline_after_pass"] = after_gc_pass(
            self.url, gc_state(self.url), 1, self.deadline
        )
        self.record.baseline = scrape_server(self.url)
        self.record.process_start = process_figures(self.server.pid)

    def _watch_black_box(self, server: Handle) -> None:
        assert self.plan.stall_s is not None
        if server.stderr_path is not None:
            relative = server.stderr_path.relative_to(self.plan.run_dir)
            self.record.files["server_stderr"] = str(relative)
        self.record.blackbox = BlackBox(
            pid=server.pid,
            stderr_path=server.stderr_path,
            stall_s=stall_bound(self.plan.stall_s, self.plan.locust_workers),
            run_dir=self.plan.run_dir,
            stem=self.plan.variant,
        )
        if server.health:  # up by a 200 on the health path, or by the TCP fallback
            self.record.target_info = {**(self.record.target_info or {}), "health": server.health}

    def _start_locust(self) -> None:
        metrics_port = free_port()
        # Absolute: Locust runs inside the run folder, so a relative --out would nest its CSVs
        # there a second time (results/<run>/results/<run>/locust/).
        prefix = (self.plan.run_dir / "locust" / self.plan.variant).resolve()
        log = self._open_log(f"locust/{self.plan.variant}.log", "locust_log")
        self.record.files["locust_csv_prefix"] = f"locust/{self.plan.variant}"
        self.record.csv_prefix = prefix  # absolute, for scenario hooks that read Locust's CSVs
        self.record.files["intents"] = f"locust/{self.plan.variant}_intents.jsonl"
        intents = (self.plan.run_dir / self.record.files["intents"]).resolve()
        argv = [*locust_argv(self.plan, self.url, prefix, metrics_port)]
        argv += ["--intents-file", str(intents)]
        master_port = free_port() if self.plan.locust_workers else 0
        v = self.plan.variant
        if self.plan.locust_workers:  # Locust's distributed mode: locust_workers.py
            argv += master_args(self.plan.locust_workers, master_port)
        with deferred_interrupts():
            self.locust = spawn(
                argv, cwd=self.plan.run_dir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            self.workers = start_workers(
                self.plan.locust_workers, LOCUSTFILE, master_port, self.plan.run_dir,
                lambda i: self._open_log(f"locust/{v}.worker-{i}.log", f"locust_worker_{i}"),
            )  # fmt: skip
            t0 = time.monotonic()
            self.record.started_at = time.time()
        assert self.server is not None
        self.sampler = Sampler(
            self.plan.variant,
            self.server.pid,
            self.url,
            f"http://127.0.0.1:{metrics_port}/metrics",
            t0,
            ping_path=self.plan.ping_path,
            ping_overlap=self.plan.ping_overlap,
        )

    def _load_end(self) -> float:
        """When to stop waiting for Locust to exit by itself. Its --run-time clock starts when
        its users spawn, after a start-up that varies by machine: from the measured spawn
        once seen (never earlier than the guess), from a guessed start-up until then."""
        assert self.sampler is not None
        guessed = self.sampler.t0 + LOCUST_TAIL_S + self.plan.duration_s
        load_at = self._load_started_at()
        if load_at is None:
            return min(guessed, self.deadline)
        return min(max(guessed, load_at + self.plan.duration_s + LOCUST_EXIT_S), self.deadline)

    def _sample(self) -> None:
        try:
            self._sample_until_done()
        finally:
            self.load_ended = time.monotonic()

    def _sample_until_done(self) -> None:
        assert self.sampler is not None and self.locust is not None and self.server is not None
        flagged_at: float | None = None
        next_at = time.monotonic()
        while True:
            row = self.sampler.sample()
            if self.record.blackbox is not None:
                self.record.blackbox.observe(row)
            self.record.samples.append(row)
            if self.record.load_started_s is None and row.get("client_users"):
                self.record.load_started_s = row["t_s"]
            flagged_at = self._note_flags(row, flagged_at)
            self.cpu_trigger.tick(row)
            self.progress(row)
            now = time.monotonic()
            self.record.ran_s = round(now - self.sampler.t0, 3)
            if self.locust.poll() is not None:
                self.record.ended = "completed"
                self._check_locust_ran()
                return
            if flagged_at is not None and now - flagged_at >= self.plan.grace_s:
                self.record.ended = "wedged" if self.record.wedged_at_s is not None else "stalled"
                return
            if (code := self.server.exit_code()) is not None:
                raise VariantError(f"server exited with code {code}")
            end = self._load_end()
            if now >= end:
                self.record.ended = "deadline"
                return
            next_at += SAMPLE_EVERY_S
            # Wait on Locust rather than sleep: its exit ends the load, and noticing it at
            # once (for one last sample) spares up to a sampling interval per variant.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.locust.wait(timeout=max(0.0, min(next_at, end) - time.monotonic()))

    def _note_flags(self, row: dict[str, Any], flagged_at: float | None) -> float | None:
        if row.get("wedged") and self.record.wedged_at_s is None:
            self.record.wedged_at_s = row["t_s"]
        if row.get("stalled") and self.record.stalled_at_s is None:
            self.record.stalled_at_s = row["t_s"]
        # Only a wedge with proof ends a variant early (the probe's flag, or the stacks the
        # black box took at a stall): a stall alone may recover, and the run must show it.
        if flagged_at is None and row.get("wedged"):
            return time.monotonic()
        return flagged_at

    def _check_locust_ran(self) -> None:
        assert self.locust is not None
        code = self.locust.returncode
        if code not in (0, None) and not any(r.get("client_requests") for r in self.record.samples):
            log = self.plan.run_dir / self.record.files["locust_log"]
            raise VariantError(f"locust exited with code {code} ({tail(log)})")

    @property
    def cpu_trigger(self) -> CpuTrigger:
        if self._cpu_trigger is None:
            capped = self.server.capped if self.server is not None else None
            self._cpu_trigger = CpuTrigger(self.plan.locust_args, capped)
            self.record.events = self._cpu_trigger.events
        return self._cpu_trigger

    def _teardown(self) -> None:
        if self._cpu_trigger is not None:
            self._cpu_trigger.restore()
        started = time.monotonic()
        self.record.locust_exit_code = stop_group(self.locust, self._cut(LOCUST_STOP_S))
        for worker in self.workers:  # they quit with their master; stragglers are stopped
            stop_group(worker, self._cut(LOCUST_STOP_S))
        if self.sampler is not None and self.sampler.pinger is not None:
            self.sampler.pinger.close()  # the idle phase must have nothing in flight
            self.record.pings = list(self.sampler.pinger.pings)
        alive = self.server is not None and self.server.alive() and bool(self.url)
        if alive and self.plan.idle_s and self.record.ended != "interrupted":
            pid, run_dir = self.server.pid, self.plan.run_dir  # type: ignore[union-attr]
            seconds, stem = self._cut(self.plan.idle_s), self.plan.variant
            self.record.idle = idle_phase(pid, self.url, seconds, run_dir, stem, stacks=True)
        if alive:
            self._final_snapshot()
        if self.sampler is not None:
            self.sampler.close()
        if self.server is not None:
            self.record.server_exit_code = self.server.stop(timeout=self._cut(SERVER_STOP_S))
            self.record.caps = self.server.caps or {}
        if self.record.blackbox is not None:
            self.record.blackbox.finish()
        for handle in self.logs:
            handle.close()
        self.record.teardown_s = round(time.monotonic() - started, 3)

    def _final_snapshot(self) -> None:
        interrupted = self.record.ended == "interrupted"
        wedged = self.record.wedged_at_s is not None
        # Settling is a nicety: skip it when wedged (nothing will finish) or out of time.
        late = time.monotonic() > self.deadline
        settle = 0 if interrupted or wedged or late else self._cut(SETTLE_S)
        settle_until = time.monotonic() + settle
        final = scrape_server(self.url)
        while final.get("inflight_primaries") and time.monotonic() < settle_until:
            time.sleep(0.1)
            final = scrape_server(self.url)
        if self.record.blackbox is not None and not (interrupted or wedged or late):
            # A user's server: leaks only count once it drained (observe/server_http.py).
            start = self.record.baseline.get("event_loop_tasks")
            final, settled = drain_tasks(self.url, start, final, self._cut(TARGET_DRAIN_S))
            if settled is not None:
                self.record.gc["settled"] = settled
        # Threads, RSS and fds after the drain, against the start: what the load left held.
        pid = self.server.pid if self.server is not None else None
        drain = self._cut(TARGET_DRAIN_S) if self.record.blackbox is not None else 0.0
        waited = 0.0 if interrupted or wedged or late else drain
        self.record.process_end = drained_figures(pid, self.record.process_start, waited)
        # Then one more gc pass (at most an interval away): orphaned tasks get destroyed and
        # reported instead of counting as leaked depending on when the last pass ran. An
        # interrupted run skips it: Ctrl-C asks for a quick exit.
        state = None if interrupted else gc_state(self.url)
        if state is not None:
            until = time.monotonic() + self._cut(state.interval_s + GC_WAIT_MARGIN_S)
            after = after_gc_pass(self.url, state, state.passes + 1, until)
            self.record.gc["final_after_pass"] = after
            final = scrape_server(self.url) or final
        else:
            self.record.gc["final_after_pass"] = False
        self.record.final = final
        self.record.loop_errors_by_kind = dict(final.get("loop_errors_by_kind", {}))
        self.record.status = get_json(f"{self.url}/v1/status")
        since = self.record.status.get("wedged_since")
        if isinstance(since, int | float) and self.record.started_at is not None:
            self.record.wedged_at_s = round(since - self.record.started_at, 3)


def run_variant(
    plan: VariantPlan, deadline: float, progress: Progress, hard_end: float | None = None
) -> VariantRecord:
    """Run one variant: start-up and load end by `deadline`, the teardown by `hard_end`."""
    return VariantRun(plan, deadline, progress, hard_end).run()
