"""`stampede plan --target NAME=COMMAND|URL`: a capacity plan for the user's own server.

Per host shape (a command target only; a URL target is planned once, as it runs):

1. start the target capped like the shape: a CFS CPU quota, a cpuset (CPU affinity of every
   thread, so 3.13's os.process_cpu_count() sees the shape) and a memory cap, all read back;
   "{cpus}" in the command becomes the shape's CPU count (e.g. `--workers {cpus}`);
2. the concurrency ladder (ladder.py) on closed-model steps (closed_load.py);
3. the USL fit of its goodput (verdict/usl.py);
4. the retry-storm margin at the knee and the four retry policies at the recommended limit
   (storm_margin.py), restarting the target after a step that collapsed;
5. the recommendations and gate figures (advice.py).

plan.json is rewritten after every shape, so an interrupted plan keeps what it measured.
Shapes run one after another: on a 2-core machine two capped targets would share the cores.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from stampede.loadtest.commands.plan import advice
from stampede.loadtest.commands.plan.closed_load import Step, run_step
from stampede.loadtest.commands.plan.ladder import (
    SLO_MARGIN,
    LadderOptions,
    run_ladder,
    summary,
    warmup_s,
)
from stampede.loadtest.commands.plan.plan import finishing, machine_info, new_run_id, run_record
from stampede.loadtest.commands.plan.storm_margin import (
    POLICY_OVERLOAD,
    policy_trials,
    storm_margin,
)
from stampede.loadtest.process.caps import CapsRequest
from stampede.loadtest.process.interrupts import run_async
from stampede.loadtest.process.launcher import Handle, launch_async
from stampede.loadtest.report.results import atomic_write_json
from stampede.loadtest.storm.users.workload import Workload
from stampede.loadtest.targets.spec import DEFAULT_HEALTH_PATH, TargetSpec
from stampede.loadtest.verdict.gates import evaluate, gate_record, parse_gates
from stampede.loadtest.verdict.usl import fit_usl
from stampede.server.settings import usable_cpu_count

SCHEMA_VERSION = 1
PIDS_CAP = 1024
STOP_TIMEOUT_S = 3.0
SETTLE_TIMEOUT_S = 30.0  # one invocation queued behind what abandoned attempts left
STORM_MAX_RETRIES = 3  # compare's default


@dataclass(frozen=True)
class TargetPlanOptions:
    target: TargetSpec
    workload: Workload = field(default_factory=Workload)
    workload_file: str | None = None
    health_path: str = DEFAULT_HEALTH_PATH
    cpus: tuple[int, ...] = (1, 2, 4)
    memory_bytes: int | None = 512 << 20
    slo_p99_ms: float = 2000.0
    max_concurrency: int = 256
    max_duplicates: int = 32
    target_rate: float | None = None
    step_s: float = 1.5
    fail_on: tuple[str, ...] = ()
    out: Path = Path("results")
    run_id: str | None = None
    progress: bool = True

    def ladder(self) -> LadderOptions:
        return LadderOptions(slo_p99_ms=self.slo_p99_ms, max_concurrency=self.max_concurrency)

    def shapes(self) -> tuple[int | None, ...]:
        return (None,) if self.target.kind == "url" else self.cpus


def shape_label(name: str, cpus: int | None) -> str:
    return f"{name}@{cpus}cpu" if cpus is not None else f"{name}@as-run"


class _Target:
    """One shape's running target; `restart` after a collapse (a URL target is only waited on)."""

    def __init__(self, options: TargetPlanOptions, cpus: int | None, log_dir: Path) -> None:
        self.options, self.cpus, self.log_dir = options, cpus, log_dir
        self.handle: Handle | None = None
        self.starts = 0
        self.cpuset: list[int] | None = None

    def _caps(self) -> CapsRequest | None:
        if self.cpus is None:
            return None
        return CapsRequest(
            cpus=float(min(self.cpus, usable_cpu_count())),
            memory_bytes=self.options.memory_bytes,
            pids=PIDS_CAP,
        )

    async def start(self) -> Handle:
        spec = self.options.target
        if spec.kind == "command" and self.cpus is not None:
            assert spec.command is not None
            spec = replace(spec, command=spec.command.replace("{cpus}", str(self.cpus)))
        target = spec.launcher_target(self._caps(), self.options.health_path)
        self.starts += 1
        log = self.log_dir / f"{shape_label(spec.name, self.cpus)}-{self.starts}.log"
        self.handle = await launch_async(target, log_path=log)
        if self.cpus is not None and self.handle.pid:
            self.cpuset = _pin(self.handle.pid, self.cpus)
        return self.handle

    async def restart(self) -> None:
        if self.options.target.kind == "url":
            await settle(self.base_url, self.options.workload)
            return
        self.stop()
        await self.start()

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.stop(timeout=STOP_TIMEOUT_S)

    @property
    def base_url(self) -> str:
        assert self.handle is not None
        return self.handle.base_url


def _pin(pid: int, cpus: int) -> list[int]:
    """A cpuset for the target: affinity of every thread of its process tree, read back."""
    allowed = sorted(os.sched_getaffinity(0))[: max(1, min(cpus, usable_cpu_count()))]
    pids = [pid, *_children(pid)]
    for p in pids:
        for task in _tasks(p):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(task, allowed)
    with contextlib.suppress(OSError):
        return sorted(os.sched_getaffinity(pid))
    return []


def _tasks(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    return []


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError, ValueError):
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(c) for c in text.split()]
    return []


async def settle(base_url: str, workload: Workload) -> bool:
    """One invocation, answered: the target has worked off what abandoned attempts left."""
    path = workload.invoke_path("plan-settle")
    body = workload.invoke_body("plan settle")
    kwargs: dict[str, Any] = {"json": body} if not isinstance(body, str) else {"content": body}
    async with httpx.AsyncClient(base_url=base_url, timeout=SETTLE_TIMEOUT_S) as client:
        with contextlib.suppress(httpx.HTTPError):
            response = await client.request(workload.invoke.method, path, **kwargs)
            return response.status_code < 500
    return False


async def plan_shape(
    options: TargetPlanOptions, cpus: int | None, log_dir: Path, say: Any
) -> dict[str, Any]:
    label = shape_label(options.target.name, cpus)
    shape: dict[str, Any] = {"label": label, "cpus": cpus, "errors": [], "ladder": {"points": []}}
    target = _Target(options, cpus, log_dir)
    slo = options.slo_p99_ms
    ladder_timeout = max(10.0, 2 * slo * SLO_MARGIN / 1000)
    try:
        handle = await target.start()
        shape["caps"] = handle.caps
        shape["cpuset"] = target.cpuset
        shape["health"] = handle.health

        async def ladder_step(n: int, warmup: float) -> dict[str, Any]:
            step = Step(n, timeout_s=ladder_timeout, warmup_s=warmup, window_s=options.step_s)
            point = await run_step(target.base_url, options.workload, step, target.handle.pid)
            say(f"{label} N={n}: {point['goodput_per_s']:.3g}/s p99 {point['latency_ms']}")
            return point

        points = await run_ladder(ladder_step, options.ladder())
        shape["ladder"] = {
            "points": [points[n] for n in sorted(points)],
            "summary": summary(points, options.ladder()),
        }
        ns = sorted(points)
        shape["usl"] = fit_usl(ns, [points[n]["goodput_per_s"] for n in ns]).to_dict()

        async def storm_step(n: int, d: int, policy: str) -> dict[str, Any]:
            # Warm up for one intent's expected time, as the ladder does: D duplicates that
            # are served as new work multiply it by D+1; the SLO bounds it (the client gives
            # up there). Shorter, the window would count the first cycle's short intents.
            # The window is at least that long too: with retries and timeouts an intent's
            # time is bimodal, and a shorter window would favour the intents that end early.
            expected = min(warmup_s(points, n + 1, slo) * (1 + d), slo * SLO_MARGIN / 1000)
            step = Step(
                n, duplicates=d, policy=policy, max_retries=STORM_MAX_RETRIES,
                timeout_s=slo / 1000, warmup_s=expected,
                window_s=max(options.step_s, expected),
            )  # fmt: skip
            point = await run_step(target.base_url, options.workload, step, target.handle.pid)
            say(f"{label} storm N={n} D={d} {policy}: {point['goodput_per_s']:.3g}/s")
            if not point["stalled"] and not await settle(target.base_url, options.workload):
                point["stalled"] = True  # it did not answer one request afterwards: wedged
            return point

        knee = shape["ladder"]["summary"]["knee_concurrency"]
        at = max(1, round(knee)) if knee else 1
        shape["storm"] = await storm_margin(storm_step, target.restart, at, options.max_duplicates)
        limit = advice.recommended_limit(shape)
        base = advice.goodput_at(shape, limit) if limit else None
        if limit and base:
            spike = min(POLICY_OVERLOAD * limit, options.max_concurrency)
            shape["policies"] = await policy_trials(storm_step, target.restart, spike, base[1])
    except Exception as exc:  # one failed shape must not sink the others
        shape["errors"].append(f"{type(exc).__name__}: {exc}")
    finally:
        target.stop()
        shape["starts"] = target.starts
        if target.handle is not None and target.handle.capped is not None:
            shape["caps"] = target.handle.caps  # notes added while stopping too
    if not shape["errors"]:
        shape["figures"] = advice.shape_figures(shape, options.target_rate)
        shape["advice"] = [advice.fit_sentence(shape), *advice.shape_advice(
            shape, slo, options.target_rate
        )]  # fmt: skip
    return shape


def new_plan(options: TargetPlanOptions, run_id: str) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "target",
        **run_record(run_id),
        "settings": {
            "target": {"name": options.target.name, **options.target.describe()},
            "workload_file": options.workload_file,
            "health_path": options.health_path,
            "cpus": list(options.cpus) if options.target.kind == "command" else None,
            "memory_bytes": options.memory_bytes if options.target.kind == "command" else None,
            "slo_p99_ms": options.slo_p99_ms,
            "max_concurrency": options.max_concurrency,
            "max_duplicates": options.max_duplicates,
            "target_rate": options.target_rate,
            "step_s": options.step_s,
            "fail_on": list(options.fail_on),
            "machine": machine_info(),
        },
        "shapes": [],
        "variants": {},
        "gates": [],
    }


def run_target_plan(options: TargetPlanOptions) -> Path:
    """Run the plan; the run directory holding plan.json, plan.md, plan.html and the plots."""
    run_id = new_run_id(options.run_id)
    run_dir = options.out / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    (run_dir / "servers").mkdir()
    plan = new_plan(options, run_id)
    started = time.monotonic()

    def say(line: str) -> None:
        if options.progress:
            print(f"[{time.monotonic() - started:6.1f}s] {line}", file=sys.stderr, flush=True)

    async def shapes() -> None:
        for cpus in options.shapes():
            shape = await plan_shape(options, cpus, run_dir / "servers", say)
            plan["shapes"].append(shape)
            if "figures" in shape:
                plan["variants"][shape["label"]] = shape["figures"]
            atomic_write_json(run_dir / "plan.json", plan)

    atomic_write_json(run_dir / "plan.json", plan)
    with finishing(plan, run_dir / "plan.json", started):
        run_async(shapes())
        plan["complete"] = len(plan["shapes"]) == len(options.shapes()) and not any(
            s["errors"] for s in plan["shapes"]
        )
    plan["gates"] = gate_record(evaluate(parse_gates(options.fail_on), plan["variants"]))
    atomic_write_json(run_dir / "plan.json", plan)
    # pyplot loads here, not at import: --help and usage errors should not pay for it.
    from stampede.loadtest.commands.plan.target_report import write_target_report

    write_target_report(plan, run_dir)
    return run_dir
