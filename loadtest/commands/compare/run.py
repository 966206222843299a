"""A compare run: each scenario's variants in turn, then the results contract on disk.

summary.json is rewritten (atomically) after every variant with "complete": false, and
timeseries.csv grows a flushed row per sample, so a run that is killed outright still leaves
what it measured; only a finished run says true, and only then does `latest` move to it. An
interrupted run (SIGINT, SIGTERM, SIGHUP) stops its processes, removes its cgroups, writes its
incomplete summary, then re-raises KeyboardInterrupt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stampede.loadtest.commands.compare.budget import (
    MEASURED_MARGIN_S,
    MIN_VARIANT_S,
    OVERHEAD_GUESS_S,
    PLOT_RESERVE_S,
    REPORT_RESERVE_S,
    TEARDOWN_GUESS_S,
    variant_cap,
)
from stampede.loadtest.commands.compare.options import (
    CompareOptions,
    check_options,
    recorded_settings,
    run_budget_s,
    server_settings,
    storm_args,
    variants_of,
)
from stampede.loadtest.commands.compare.report import write_reports
from stampede.loadtest.commands.compare.targets import target_plan_fields
from stampede.loadtest.process.caps import CapsRequest
from stampede.loadtest.process.launcher import stampede_target
from stampede.loadtest.report.plots import figures_for, make_plots
from stampede.loadtest.report.progress import ProgressDisplay
from stampede.loadtest.report.results import (
    TimeseriesLog,
    atomic_write_json,
    build_summary,
    locust_history,
    new_run_id,
    point_latest,
    variant_summary,
)
from stampede.loadtest.storm.runner import TEARDOWN_MIN_S, run_variant
from stampede.loadtest.storm.scenarios import Scenario, resolve
from stampede.loadtest.storm.variant import VariantPlan, VariantRecord
from stampede.loadtest.targets.sdk_envs import prepare_for_compare, sdk_python
from stampede.loadtest.verdict.gates import evaluate, gate_record, parse_gates
from stampede.loadtest.verdict.intents import read_intents, timeline
from stampede.server.settings import settings_flags


def run_compare(options: CompareOptions) -> list[Path]:
    """Run every selected scenario; returns one run directory per scenario, in order.

    Raises ValueError naming a bad option before anything starts, and KeyboardInterrupt after
    writing an incomplete summary when interrupted.
    """
    check_options(options)
    if options.sdk:  # every release's venv, before the run starts: a bad one is a usage error
        prepare_for_compare(options.sdk)
    return [run_scenario(options, scenario) for scenario in resolve(options.scenario)]


class _Run:
    def __init__(self, options: CompareOptions, scenario: Scenario) -> None:
        self.options = options
        self.scenario = scenario
        self.variants = variants_of(options, scenario)
        self.run_id = new_run_id(scenario.name)
        self.run_dir = options.out / self.run_id
        self.started_at = time.time()
        self.budget_s = run_budget_s(options, scenario)
        self.deadline = time.monotonic() + self.budget_s
        self.hard_end = self.deadline - REPORT_RESERVE_S  # every teardown ends by then
        self.settings = recorded_settings(options, scenario)
        self.records: dict[str, VariantRecord] = {}
        self.timeseries: TimeseriesLog | None = None

    def open(self) -> None:
        """The run directory, with an incomplete summary and an empty timeseries."""
        self.run_dir.mkdir(parents=True, exist_ok=False)
        self.write_summary({}, complete=False)
        self.timeseries = TimeseriesLog(self.run_dir / "timeseries.csv")

    def close_timeseries(self) -> None:
        if self.timeseries is not None:
            self.timeseries.close()

    def plan(self, variant: str) -> VariantPlan:
        o = self.options
        caps = CapsRequest(cpus=o.cpus, memory_bytes=o.memory_bytes, pids=o.pids)
        common: dict[str, Any] = {
            "user_classes": list(self.scenario.user_classes),
            "locust_args": storm_args(o) | self.scenario.locust_args,
            "users": o.users,
            "duration_s": o.duration_s,
            "grace_s": o.grace_s,
            "run_dir": self.run_dir,
            "locust_workers": o.locust_workers,
            "ping_path": self.scenario.ping_path,
            "ping_overlap": self.scenario.ping_overlap,
            "idle_s": self.scenario.idle_s,
        }
        if o.targets is not None:  # the user's own server: compare/targets.py
            if common["ping_path"]:  # the cheap request there is its health path
                common["ping_path"] = o.targets.health_path
            return VariantPlan(
                variant=variant, **target_plan_fields(o.targets, variant, caps, common)
            )
        settings = server_settings(o, self.scenario, variant)
        return VariantPlan(
            variant=variant,
            target=stampede_target(
                settings,
                python=sdk_python(variant) if o.sdk else None,
                caps=caps,
                name=f"stampede-{variant}",
            ),
            server_settings=settings_flags(settings),
            # summary.json's `target`: Stampede's own server, or it serving an SDK release.
            target_info={"kind": "sdk", "sdk": variant} if o.sdk else {"kind": "builtin"},
            **common,
        )

    def measured(self, key: str, guess: float) -> float:
        """The largest `key` timing of the variants run so far plus a margin, else `guess`."""
        values = [r.timings.get(key) for r in self.records.values()]
        known = [v for v in values if isinstance(v, int | float)]
        return max(known) + MEASURED_MARGIN_S if known else guess

    def variant_deadline(self, index: int) -> float:
        return variant_cap(
            now=time.monotonic(),
            hard_end=self.hard_end,
            later=len(self.variants) - index - 1,
            duration_s=self.options.duration_s,
            overhead_s=self.measured("overhead_s", OVERHEAD_GUESS_S),
            teardown_s=self.measured("teardown_s", TEARDOWN_GUESS_S),
            teardown_min_s=TEARDOWN_MIN_S,
        )

    def skipped(self, variant: str, left: float) -> VariantRecord:
        """A variant there is no time left for: nothing started, the summary says why."""
        plan = self.plan(variant)
        record = VariantRecord(variant, plan.server_settings, ended="skipped")
        record.target_info = plan.target_info
        record.error = f"skipped: {max(0.0, left):.1f} s left of the run's {self.budget_s:g} s"
        return record

    def summaries(self) -> dict[str, dict[str, Any]]:
        return {
            name: variant_summary(record, self.run_dir, self.scenario)
            for name, record in self.records.items()
        }

    def write_summary(self, variants: dict[str, dict[str, Any]], complete: bool) -> dict:
        summary = build_summary(
            run_id=self.run_id,
            scenario=self.scenario,
            started_at=self.started_at,
            settings=self.settings,
            variants=variants,
            complete=complete,
            deadline_s=self.budget_s,
        )
        atomic_write_json(self.run_dir / "summary.json", summary)
        return summary

    def sink(self, progress: ProgressDisplay) -> Callable[[dict[str, Any]], None]:
        """Each sample goes to timeseries.csv at once, then to the progress display."""

        def take(row: dict[str, Any]) -> None:
            if self.timeseries is not None:
                self.timeseries.append(row)
            progress.update(row)

        return take

    def plot_inputs(self, variants: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        inputs = {}
        for name, record in self.records.items():
            prefix = self.run_dir / record.files.get("locust_csv_prefix", f"locust/{name}")
            history = locust_history(prefix)
            for row in history:
                if row["timestamp"] is not None and record.started_at is not None:
                    row["t_s"] = row["timestamp"] - record.started_at
            intents_file = self.run_dir / record.files.get("intents", "-")
            started = record.started_at
            inputs[name] = {
                "samples": record.samples,
                "history": history,
                "intents": timeline(read_intents(intents_file)[1], started) if started else [],
                "wedged_at_s": variants[name].get("wedged_at_s"),
                "executor_max_workers": variants[name].get("executor_max_workers"),
                "baseline_tasks": record.baseline.get("event_loop_tasks"),
            }
        return inputs


def _describe_end(name: str, v: dict[str, Any]) -> str:
    if v.get("error"):
        return f"[{name}] failed: {v['error']}"
    wedged_at = v.get("wedged_at_s")
    state = "not wedged" if wedged_at is None else f"wedged at {wedged_at:.1f} s"
    errors = sum((v.get("loop_errors") or {}).values())
    return (
        f"[{name}] ended ({v.get('ended')}): {state}; peak threads {v.get('peak_threads')}, "
        f"parked by waiters {v.get('peak_waiter_threads')}/{v.get('executor_max_workers')}, "
        f"peak tasks {v.get('peak_event_loop_tasks')}, loop errors {errors}"
    )


def run_scenario(options: CompareOptions, scenario: Scenario) -> Path:
    run = _Run(options, scenario)
    run.open()
    title = f"stampede compare {scenario.name} -> {run.run_dir}"
    with ProgressDisplay(title, live=options.progress) as progress:
        try:
            for index, variant in enumerate(run.variants):
                cap = run.variant_deadline(index)
                left = cap - time.monotonic()
                if left < MIN_VARIANT_S:
                    record = run.skipped(variant, left)
                else:
                    progress.line(
                        f"[{variant}] starting ({left:.0f} s for start-up and load; "
                        f"budget left {_left(run):.0f} s)"
                    )
                    plan = run.plan(variant)
                    record = run_variant(plan, cap, run.sink(progress), run.hard_end)
                run.records[variant] = record
                variants = run.summaries()
                progress.line(_describe_end(variant, variants[variant]))
                run.write_summary(variants, complete=False)
                if record.ended == "interrupted":
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            run.close_timeseries()
            run.write_summary(run.summaries(), complete=False)
            progress.line(f"interrupted: incomplete results in {run.run_dir}")
            raise
    _finish(run)
    return run.run_dir


def _left(run: _Run) -> float:
    return run.deadline - time.monotonic()


def _finish(run: _Run) -> None:
    variants = run.summaries()
    run.close_timeseries()
    extra = run.scenario.figures
    plots: list[Path] = []
    wanted: list[str] = []
    if run.options.plots:
        inputs = run.plot_inputs(variants)
        wanted = [f.filename for f in (*figures_for(inputs), *extra)]
        # The summary and report still need their moment after the last figure.
        until = run.deadline - PLOT_RESERVE_S
        plots = make_plots(inputs, run.run_dir / "plots", extra, until=until)
    own = {f.filename for f in extra}
    standard = [p for p in plots if p.name not in own]
    scenario_plots = [p for p in plots if p.name in own]
    drawn = {p.name for p in plots}
    summary = run.write_summary(variants, complete=True)
    results = evaluate(parse_gates(run.options.fail_on), variants)
    summary["gates"] = gate_record(results)
    summary["verdict"] += [r.line() for r in results if r.failed]
    summary["plots"] = [str(p.relative_to(run.run_dir)) for p in plots]
    summary["scenario_plots"] = [str(p.relative_to(run.run_dir)) for p in scenario_plots]
    summary["plots_skipped"] = [name for name in wanted if name not in drawn]
    atomic_write_json(run.run_dir / "summary.json", summary)
    sections = run.scenario.sections(summary) if run.scenario.sections else []
    write_reports(run.run_dir, summary, standard, scenario_plots, sections)
    # Only now: `latest` never points at an aborted or half-written run.
    point_latest(run.options.out, run.run_dir)
    point_latest(run.options.out, run.run_dir, f"latest-{run.scenario.name}")  # --scenario all
