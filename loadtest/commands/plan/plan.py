"""`stampede plan`: wedge threshold and head-of-line cost per host shape and waiter.

For each emulated host shape (the server's --cpus, which sets CPython's default pool size) and
waiter, the plan predicts the wedge threshold, measures it by probing fresh real servers, and
measures what waiting duplicates below the threshold cost unrelated agents.

Probe order uses the prediction: D = predicted-1 and D = predicted first (two servers at once);
they settle the answer when the first survives and the second wedges, because the wedge is
monotone in D (more duplicates park more workers, never fewer). Only a failed prediction falls
back to bisection. Wedge probes run in parallel (each checks that its duplicates arrived while
the primary's first model call ran, and repeats with a longer model latency if not); latency
measurements run one at a time so they do not share the CPU with other probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from stampede.loadtest.commands.bench.waiters import measure_waiters
from stampede.loadtest.commands.plan.probe import ServerSpec, hol_probe, wedge_probe
from stampede.loadtest.process.interrupts import run_async
from stampede.loadtest.report.results import atomic_write_json
from stampede.server.settings import ServerSettings, default_pool_size, usable_cpu_count

SCHEMA_VERSION = 1
RETRIES_LATE = 2  # a probe whose duplicates arrived late is repeated with doubled latency
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_LATENCY_MS = 50.0


@dataclass(frozen=True)
class PlanOptions:
    cpus: tuple[int, ...] = (1, 2, 4, 8)
    waiters: tuple[str, ...] = ("to_thread", "future", "batched")
    max_duplicates: int = 64
    # The probes' own latency, shorter than the server's default so the plan takes a minute;
    # at least MIN_LATENCY_MS, so the duplicates all arrive within the primary's first call.
    model_latency_ms: float = 300.0
    model_cycles: int = ServerSettings.model_fields["model_cycles"].default
    out: Path = Path("results")
    run_id: str | None = None
    parallel: int = 2
    bench_duplicates: int = 100
    progress: bool = True

    def server(self) -> ServerSettings:
        """Every probe server's settings, before its row's cpus and waiter."""
        return ServerSettings.explicit(
            model_latency_ms=self.model_latency_ms,
            model_cycles=self.model_cycles,
            log_level="warning",
        )


# ---------------------------------------------------------------- prediction


def pool_sizes(total_cpus: int, usable_cpus: int) -> tuple[int, int]:
    """(<=3.12, 3.13+) default-executor sizes: os.cpu_count() vs os.process_cpu_count()."""
    return default_pool_size(total_cpus), default_pool_size(usable_cpus)


def predicted_wedge(waiter: str, pool: int, cycles: int) -> int | None:
    """to_thread: pool-size duplicates take every worker before the primary's second call."""
    if waiter != "to_thread" or cycles < 2:
        return None  # future/batched park no worker; one cycle has no second call to starve
    return pool


def hol_levels(pool: int) -> list[int]:
    return sorted({0, pool // 4, pool // 2, pool - 1})


def machine_info() -> dict[str, Any]:
    total, usable = os.cpu_count() or 1, usable_cpu_count()
    py312, py313 = pool_sizes(total, usable)
    return {
        "os_cpu_count": total,
        "process_cpu_count": usable,
        "cfs_quota_cpus": _own_cpu_quota(),
        "pool_size_py312": py312,
        "pool_size_py313": py313,
        "python": sys.version.split()[0],
    }


def _own_cpu_quota() -> float | None:
    """This process's CFS quota in CPUs (a container's `cpus:`); neither pool rule reads it."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controllers == "":  # cgroup v2: "max 100000" or "<quota> <period>"
                quota, period = (Path("/sys/fs/cgroup") / path[1:] / "cpu.max").read_text().split()
            elif "cpu" in controllers.split(","):
                where = Path("/sys/fs/cgroup/cpu") / path[1:]
                quota = (where / "cpu.cfs_quota_us").read_text().strip()
                period = (where / "cpu.cfs_period_us").read_text().strip()
            else:
                continue
            return None if quota in ("max", "-1") else int(quota) / int(period)
    return None


# ---------------------------------------------------------------- search


def next_probes(results: dict[int, bool], predicted: int | None, max_dup: int) -> list[int]:
    """The duplicate counts to probe next ([] when the threshold is known)."""
    if not results:
        if predicted is not None and 1 <= predicted <= max_dup:
            return [d for d in (predicted - 1, predicted) if d >= 1]
        return [max_dup]
    wedging = [d for d, wedged in results.items() if wedged]
    if not wedging:
        return [] if max_dup in results else [max_dup]
    hi = min(wedging)
    lo = max((d for d, wedged in results.items() if not wedged and d < hi), default=0)
    return [] if hi - lo <= 1 else [(lo + hi) // 2]


def threshold(results: dict[int, bool]) -> int | None:
    return min((d for d, wedged in results.items() if wedged), default=None)


def non_monotone(results: dict[int, bool]) -> list[int]:
    """Counts that survived although a smaller count wedged (would break the bisection)."""
    first = threshold(results)
    return sorted(d for d, w in results.items() if first is not None and d > first and not w)


# ---------------------------------------------------------------- plan document


def new_plan(options: PlanOptions, run_id: str) -> dict[str, Any]:
    machine = machine_info()
    settings = {
        "cpus": list(options.cpus),
        "waiters": list(options.waiters),
        "max_duplicates": options.max_duplicates,
        "model_latency_ms": options.model_latency_ms,
        "model_cycles": options.model_cycles,
        "parallel": options.parallel,
        "bench_duplicates": options.bench_duplicates,
        "machine": machine,
    }
    return {
        "schema_version": SCHEMA_VERSION,
        **run_record(run_id),
        "settings": settings,
        "waiter_cost": {},
        "rows": [new_row(c, w, options, machine) for c in options.cpus for w in options.waiters],
        "recommendation": [],
    }


def new_row(cpus: int, waiter: str, options: PlanOptions, machine: dict[str, Any]) -> dict:
    # A host with `cpus` CPUs, all usable: both rules agree. Containers differ (see report).
    py312, py313 = pool_sizes(cpus, cpus)
    cap = float(min(cpus, machine["process_cpu_count"]))
    return {
        "cpus": cpus,
        "waiter": waiter,
        "pool_size": py312,
        "pool_size_py313": py313,
        "predicted_wedge_duplicates": predicted_wedge(waiter, py312, options.model_cycles),
        "measured_wedge_duplicates": None,
        "max_tested": 0,
        "verdict": "pending",
        "hol_latency_ms": {},
        "hol_unrelated": py312 - 1,
        "threads_per_waiter": None,
        "rss_per_waiter_bytes": None,
        "cpu_cap": {"requested": cap, "enforced": None, "method": None, "notes": []},
        "probes": [],
        "errors": [],
    }


def verdict(row: dict[str, Any], max_dup: int) -> str:
    predicted, measured = row["predicted_wedge_duplicates"], row["measured_wedge_duplicates"]
    if row["errors"] and measured is None and row["max_tested"] < max_dup:
        return "error"
    if predicted is not None and predicted > max_dup:
        return "beyond max tested"
    return "match" if predicted == measured else "mismatch"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------- what both plans record


def new_run_id(options_run_id: str | None) -> str:
    """The run folder's name: the one asked for, else plan-<UTC time>-<4 hex>."""
    return options_run_id or f"plan-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def run_record(run_id: str) -> dict[str, Any]:
    """The fields a plan.json opens with, before its run finishes (see `finishing`)."""
    return {
        "run_id": run_id,
        "started_at": _now(),
        "finished_at": None,
        "elapsed_s": None,
        "complete": False,
        "interrupted": False,
    }


@contextlib.contextmanager
def finishing(plan: dict[str, Any], path: Path, started: float) -> Iterator[None]:
    """However the run ends, plan.json at `path` says when and after how long, and whether
    Ctrl-C stopped it (the interrupt goes on up); the body sets `complete` itself."""
    try:
        yield
    except KeyboardInterrupt:
        plan["interrupted"] = True
        raise
    finally:
        plan["finished_at"] = _now()
        plan["elapsed_s"] = round(time.monotonic() - started, 2)
        atomic_write_json(path, plan)


# ---------------------------------------------------------------- running


def waiter_costs(waiters: tuple[str, ...], n: int) -> dict[str, Any]:
    """Threads and RSS per waiting duplicate, measured in-process by the waiter benchmark."""
    costs = {}
    for waiter in waiters:
        # One worker per duplicate plus the primary's: the pool never caps what a waiter takes.
        figures = measure_waiters(waiter, n, workers=n + 1)
        costs[waiter] = {**figures, "threads_per_waiter": figures["threads_added"] / n}
    return costs


def _spec(row: dict[str, Any], options: PlanOptions, log_dir: Path, latency: float) -> ServerSpec:
    return ServerSpec(
        options.server().merged(cpus=row["cpus"], waiter=row["waiter"], model_latency_ms=latency),
        cpu_cap=row["cpu_cap"]["requested"],
        log_dir=log_dir,
    )


async def _probe(row: dict, options: PlanOptions, log_dir: Path, d: int, gate: Any) -> bool:
    latency = options.model_latency_ms
    for attempt in range(RETRIES_LATE + 1):
        name = f"c{row['cpus']}-{row['waiter']}-d{d}-a{attempt}"
        async with gate:
            result = await wedge_probe(_spec(row, options, log_dir, latency), d, name)
        caps = result.pop("caps")
        row["cpu_cap"].update(
            enforced=caps["enforced"]["cpus"], method=caps["method"], notes=caps["notes"]
        )
        row["probes"].append(result)
        if result["pool_size"] != row["pool_size"]:
            row["errors"].append(f"server pool {result['pool_size']} != rule {row['pool_size']}")
        if result["conclusive"]:
            return bool(result["wedged"])
        latency *= 2  # duplicates arrived after the first model call: give them a wider window
    raise RuntimeError(f"D={d}: duplicates never all arrived within the primary's first call")


async def search_row(row: dict, options: PlanOptions, log_dir: Path, gate: Any) -> None:
    results: dict[int, bool] = {}
    predicted = row["predicted_wedge_duplicates"]
    while todo := next_probes(results, predicted, options.max_duplicates):
        outs = await asyncio.gather(*(_probe(row, options, log_dir, d, gate) for d in todo))
        results.update(zip(todo, outs, strict=True))
        row["max_tested"] = max(results)  # kept current so a partial plan.json says how far
    row["measured_wedge_duplicates"] = threshold(results)
    if bad := non_monotone(results):
        row["errors"].append(f"non-monotone: D={bad} survived although D={threshold(results)}")


async def hol_row(row: dict, options: PlanOptions, log_dir: Path, tick: Callable) -> None:
    spec = _spec(row, options, log_dir, options.model_latency_ms)
    name = f"c{row['cpus']}-{row['waiter']}-hol"
    levels = hol_levels(row["pool_size"])
    row["hol_latency_ms"] = await hol_probe(spec, levels, row["hol_unrelated"], name, tick)


async def _guarded(row: dict, work: Any, save: Callable[[], None]) -> None:
    try:
        await work
    except Exception as exc:  # one failed row must not sink the others
        row["errors"].append(f"{type(exc).__name__}: {exc}")
    finally:
        save()


async def sweep(plan: dict, options: PlanOptions, run_dir: Path, tick: Callable) -> None:
    log_dir = run_dir / "servers"
    log_dir.mkdir(exist_ok=True)
    gate = asyncio.Semaphore(options.parallel)

    def save() -> None:
        atomic_write_json(run_dir / "plan.json", plan)

    async def wedge_step(row: dict) -> None:
        await _guarded(row, search_row(row, options, log_dir, gate), save)
        tick(f"wedge search c{row['cpus']} {row['waiter']}")

    await asyncio.gather(*(wedge_step(row) for row in plan["rows"]))
    for row in plan["rows"]:
        await _guarded(row, hol_row(row, options, log_dir, lambda d: tick(f"HOL D={d}")), save)
        row["verdict"] = verdict(row, options.max_duplicates)
        save()


def steps(plan: dict[str, Any]) -> int:
    return 1 + sum(1 + len(hol_levels(row["pool_size"])) for row in plan["rows"])


def run_plan(options: PlanOptions) -> Path:
    """Run the whole plan; returns the run directory holding plan.json and the report."""
    run_id = new_run_id(options.run_id)
    run_dir = options.out / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    plan = new_plan(options, run_id)
    started = time.monotonic()
    atomic_write_json(run_dir / "plan.json", plan)
    # On Ctrl-C the servers were stopped by the cancelled probes; `finishing` records it.
    with (
        _progress(options.progress, steps(plan)) as tick,
        finishing(plan, run_dir / "plan.json", started),
    ):
        plan["waiter_cost"] = waiter_costs(options.waiters, options.bench_duplicates)
        for row in plan["rows"]:
            cost = plan["waiter_cost"][row["waiter"]]
            row["threads_per_waiter"] = cost["threads_per_waiter"]
            row["rss_per_waiter_bytes"] = cost["rss_per_waiter_bytes"]
        tick("waiter cost")
        run_async(sweep(plan, options, run_dir, tick))
        plan["complete"] = not any(row["errors"] for row in plan["rows"])
    # The report, and pyplot with it, load here rather than at import: every `stampede`
    # command imports this module, and --help or a usage error should not pay for pyplot.
    from stampede.loadtest.commands.plan.plan_report import recommendations, write_report

    plan["recommendation"] = recommendations(plan)
    atomic_write_json(run_dir / "plan.json", plan)
    write_report(plan, run_dir)
    return run_dir


@contextlib.contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[str], None]]:
    """A rich progress bar over the sweep's steps; `tick(label)` advances it by one."""
    if not enabled:
        yield lambda label: None
        return
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("stampede plan", total=total)
        yield lambda label: bar.update(task, advance=1, description=label)
