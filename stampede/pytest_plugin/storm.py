"""A storm as a test: `compare`'s storm on one target, its summary as an object, its verdict as
the test's failure.

The target is an ASGI app ("module:attr", or "module:factory()" for an app factory) that
uvicorn serves in a capped child process on a free loopback port, a command with "{port}", or
a loopback URL. The storm is `stampede compare --target`'s own (CompareOptions, run_compare):
Locust in its own process, the probe's evidence when the app has `stampede.probe.install`,
black-box evidence (stderr, py-spy stacks) when it has not, and the report in the run folder.

The gates decide: by default "wedged" (a wedged target fails the test); any `compare` gate can
be given, e.g. gates="wedged,loop_errors>0,goodput_ratio<0.9".
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from stampede.loadtest.commands.compare.options import CompareOptions, check_options
from stampede.loadtest.commands.compare.run import run_compare
from stampede.loadtest.commands.compare.targets import TargetOptions
from stampede.loadtest.storm.users.workload import Workload, WorkloadError, load_workload
from stampede.loadtest.targets.spec import parse_target

APP = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*(\(\))?$")
NAME = "target"
DEFAULTS: dict[str, Any] = {
    "scenario": "idempotency",
    "duration": 3.0,
    "users": 4,
    "gates": "wedged",
    "stall_seconds": 1.5,
    "grace": 0.5,
}
KNOWN = {*DEFAULTS, "workload", "health_path", "seed", "app_dir", "out"}


@dataclass(frozen=True)
class StormSummary:
    """One target's verdict fields from summary.json, and where the report is."""

    state: str
    wedged: bool | None
    evidence: str | None
    success_ratio: float | None
    goodput_per_s: float | None
    leaked_tasks: int | None
    loop_errors: dict[str, int]
    requests_ok: int
    requests_failed: int
    verdict: tuple[str, ...]
    failed_gates: tuple[str, ...]
    report: Path
    run_dir: Path
    variant: dict[str, Any] = field(repr=False)

    @property
    def passed(self) -> bool:
        return not self.failed_gates and not self.variant.get("error")


def target_command(target: str, app_dir: Path) -> str:
    """The --target value for a target as the plugin takes it; ValueError naming a bad one."""
    if target.startswith(("http://", "https://")) or "{port}" in target:
        return target
    if APP.match(target):
        factory = " --factory" if target.endswith("()") else ""
        app = target.removesuffix("()")
        return (
            f"{sys.executable} -m uvicorn {app}{factory} --host 127.0.0.1 --port {{port}} "
            f"--app-dir {app_dir}"
        )
    raise ValueError(
        f"stampede target {target!r}: expected an ASGI app 'module:attr' (or 'module:factory()'),"
        " a command with {port}, or a loopback URL http://127.0.0.1:PORT"
    )


def options_for(target: str, settings: dict[str, Any]) -> CompareOptions:
    unknown = sorted(set(settings) - KNOWN)
    if unknown:
        raise ValueError(
            f"stampede storm: unknown option {unknown[0]!r} (known: {', '.join(sorted(KNOWN))})"
        )
    s = DEFAULTS | settings
    app_dir = Path(s.get("app_dir") or Path.cwd())
    spec = parse_target(f"{NAME}={target_command(target, app_dir)}")
    workload = Workload()
    if s.get("workload"):
        try:
            workload = load_workload(Path(s["workload"]))
        except WorkloadError as exc:
            raise ValueError(str(exc)) from None
    targets = TargetOptions(
        specs=(spec,),
        stall_s=float(s["stall_seconds"]),
        workload=workload,
        workload_file=str(s["workload"]) if s.get("workload") else None,
        **({"health_path": s["health_path"]} if s.get("health_path") else {}),
    )
    gates = s["gates"]
    gates = tuple(g.strip() for g in (gates.split(",") if isinstance(gates, str) else gates))
    options = CompareOptions(
        scenario=s["scenario"],
        duration_s=float(s["duration"]),
        users=int(s["users"]),
        grace_s=float(s["grace"]),
        seed=int(s.get("seed", 0)),
        out=Path(s["out"]),
        targets=targets,
        fail_on=tuple(g for g in gates if g) + tuple(workload.gates.fail_on),
        progress=False,
    )
    check_options(options)
    return options


def summary_of(run_dir: Path) -> StormSummary:
    summary = json.loads((run_dir / "summary.json").read_text())
    v = summary["variants"][NAME]
    requests = v.get("requests") or {}
    ok, failed = int(requests.get("ok") or 0), int(requests.get("failed") or 0)
    intents = v.get("intents") or {}
    # summary.json's own state block (verdict/state.py): its state word and its success ratio
    block = v.get("state") if isinstance(v.get("state"), dict) else {}
    ratio = block.get("success_ratio", v.get("success_ratio"))
    if ratio is None:
        ratio = intents.get("success_ratio")
    if ratio is None and ok + failed:
        ratio = round(ok / (ok + failed), 4)
    loop_errors = {k: int(n) for k, n in (v.get("loop_errors") or {}).items() if n}
    failed_gates = tuple(
        f"{g.get('gate')}: {g.get('result')}"
        for g in summary.get("gates", [])
        if g.get("result") != "passed"
    )
    return StormSummary(
        state=block.get("state") or derived_state(v, ratio, loop_errors),
        wedged=v.get("wedged"),
        evidence=v.get("wedge_evidence"),
        success_ratio=ratio,
        goodput_per_s=intents.get("goodput_per_s"),
        leaked_tasks=v.get("leaked_tasks"),
        loop_errors=loop_errors,
        requests_ok=ok,
        requests_failed=failed,
        verdict=tuple(summary.get("verdict", [])),
        failed_gates=failed_gates,
        report=run_dir / "report.html",
        run_dir=run_dir,
        variant=v,
    )


def derived_state(v: dict[str, Any], ratio: float | None, loop_errors: dict[str, int]) -> str:
    """The target's state from the fields every summary has (a summary without `state`)."""
    if v.get("error"):
        return "error"
    if v.get("wedged"):
        return "wedged"
    if v.get("stalled"):
        return "stalled"
    if ratio is not None and ratio < 0.5:
        return "failing"
    if loop_errors:
        return "erroring"
    if (v.get("leaked_tasks") or 0) > 0:
        return "leaking"
    return "healthy"


def storm(target: str, **settings: Any) -> StormSummary:
    """Storm `target` (see the module's docstring) and return its summary."""
    options = options_for(target, settings)
    options.out.mkdir(parents=True, exist_ok=True)
    [run_dir] = run_compare(options)
    return summary_of(run_dir)


def failure(target: str, result: StormSummary) -> str | None:
    """The test's failure in the verdict's words, with where the report is; None if it
    passed."""
    if result.passed:
        return None
    lines = list(result.verdict)  # the failed gates are among its lines
    if result.variant.get("error"):
        lines.append(f"the target did not run: {result.variant['error']}")
    return f"stampede storm of {target!r}: {result.state}\n" + "\n".join(
        [*lines, f"report: {result.report}"]
    )


def storm_or_fail(target: str, **settings: Any) -> StormSummary:
    """`storm`, failing the calling test on a bad option or a failed gate."""
    result = checked_storm(target, **settings)
    text = failure(target, result)
    if text is not None:
        pytest.fail(text, pytrace=False)
    return result


def checked_storm(target: str, **settings: Any) -> StormSummary:
    """`storm`, failing the calling test (one line, no traceback) on a bad option."""
    try:
        return storm(target, **settings)
    except ValueError as exc:
        pytest.fail(str(exc), pytrace=False)
