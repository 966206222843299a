"""One variant of a run: what the runner is given (VariantPlan) and what it leaves (VariantRecord).

Plain records, apart from the runner that fills them (runner.py), so the summary writer
(report/results.py) and compare read them without the runner's process control.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stampede.loadtest.observe.blackbox import BlackBox
from stampede.loadtest.process.launcher import Target


@dataclass
class VariantPlan:
    variant: str
    target: Target  # what to start and storm (launcher.py), with its caps
    server_settings: dict[str, str]  # what the record shows: field -> flag text
    user_classes: list[str]
    locust_args: dict[str, str]  # custom argument (underscored) -> value
    users: int
    duration_s: float
    grace_s: float
    run_dir: Path
    # A user's server (--target): what it is, for the summary, and the stall bound of the
    # black box that watches it (blackbox.py). None: Stampede's own server, probed exactly.
    target_info: dict[str, Any] | None = None
    stall_s: float | None = None
    locust_workers: int = 0  # 0: one local Locust process; N: a master and N local workers
    ping_path: str | None = None  # a cheap path timed beside the storm (responsiveness.py)
    ping_overlap: bool = False  # its checks at a fixed cadence, overlapping (responsiveness.py)
    idle_s: float = 0.0  # an idle phase after the storm, nothing in flight (idle_phase.py)


@dataclass
class VariantRecord:
    name: str
    server_settings: dict[str, str]
    caps: dict[str, Any] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    started_at: float | None = None  # wall clock, Locust start (t_s = 0)
    ran_s: float = 0.0
    load_started_s: float | None = None  # t_s when Locust's users were first seen spawned
    # startup_s (variant start -> load), load_s, teardown_s, wall_s, and overhead_s: the wall
    # time not spent on the planned duration of load (None when no load was seen).
    timings: dict[str, float | None] = field(default_factory=dict)
    gc: dict[str, bool] = field(default_factory=dict)  # baseline/final read after a gc pass
    ended: str = "not started"  # completed|wedged|stalled|deadline|error|interrupted|skipped
    wedged_at_s: float | None = None
    stalled_at_s: float | None = None
    baseline: dict[str, Any] = field(default_factory=dict)
    final: dict[str, Any] = field(default_factory=dict)
    # The process tree's threads, RSS and fds at the start and after the drain (psutil).
    process_start: dict[str, Any] = field(default_factory=dict)
    process_end: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    loop_errors_by_kind: dict[str, int] = field(default_factory=dict)
    locust_exit_code: int | None = None
    server_exit_code: int | None = None
    error: str | None = None
    teardown_s: float | None = None
    files: dict[str, str] = field(default_factory=dict)
    target_info: dict[str, Any] | None = None
    blackbox: BlackBox | None = None
    events: dict[str, Any] = field(default_factory=dict)  # e.g. a cpu trigger's, and when
    pings: list[tuple[float, float, bool]] = field(default_factory=list)  # (t_s, s, answered)
    idle: dict[str, Any] = field(default_factory=dict)  # the idle phase's readings
