"""The target plan's report from modelled plans: every figure it prints comes from plan.json,
a shape that failed or a URL target still renders, and gates read the shapes' figures."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from stampede.loadtest.commands.plan import advice
from stampede.loadtest.commands.plan.ladder import LadderOptions, run_ladder, summary
from stampede.loadtest.commands.plan.target_report import target_document, write_target_report
from stampede.loadtest.report import to_markdown
from stampede.loadtest.verdict.gates import evaluate, parse_gates
from stampede.loadtest.verdict.usl import fit_usl


def _measured_shape(label: str, c: int, s: float) -> dict[str, Any]:
    async def measure(n: int, warmup: float) -> dict[str, Any]:
        x = min(n, c) / s
        lat = n / x * 1000
        return {
            "concurrency": n, "duplicates": 0, "policy": "none", "goodput_per_s": x,
            "latency_ms": {"p50": lat, "p95": lat, "p99": lat}, "stalled": False,
            "intents_ok": 10, "intents_ended": 10, "target_cpu_cores": 0.5,
            "attempts_per_intent": 1.0,
        }  # fmt: skip

    opts = LadderOptions(slo_p99_ms=1000, max_concurrency=64)
    points = asyncio.run(run_ladder(measure, opts))
    ns = sorted(points)
    shape: dict[str, Any] = {
        "label": label, "cpus": 1, "errors": [], "cpuset": [0],
        "caps": {"method": "cgroup-v1", "enforced": {"cpus": 1.0, "memory_bytes": 1 << 29,
                                                     "pids": 1024}, "notes": []},
        "ladder": {"points": [points[n] for n in ns], "summary": summary(points, opts)},
        "usl": fit_usl(ns, [points[n]["goodput_per_s"] for n in ns]).to_dict(),
        "storm": {"concurrency": c, "policy": "full-jitter", "baseline_goodput_per_s": c / s,
                  "margin_duplicates": None, "max_tested": 8, "wedged_at": None,
                  "steps": [{**points[c], "duplicates": d} for d in (0, 1, 2, 4, 8)]},
    }  # fmt: skip
    shape["figures"] = advice.shape_figures(shape, None)
    shape["advice"] = [advice.fit_sentence(shape), *advice.shape_advice(shape, 1000, None)]
    return shape


def _plan(shapes: list[dict[str, Any]], kind: str = "command") -> dict[str, Any]:
    target = {"name": "t", "kind": kind, "command": "x --port {port}"}
    if kind == "url":
        target = {"name": "t", "kind": "url", "url": "http://127.0.0.1:9"}
    return {
        "run_id": "r", "complete": True, "elapsed_s": 1.0, "gates": [],
        "settings": {"target": target, "slo_p99_ms": 1000.0, "max_concurrency": 64,
                     "max_duplicates": 8, "target_rate": None, "step_s": 1.5,
                     "machine": {"process_cpu_count": 2}},
        "shapes": shapes, "variants": {s["label"]: s["figures"] for s in shapes if "figures" in s},
    }  # fmt: skip


def test_report_says_what_the_figures_say(tmp_path: Path) -> None:
    plan = _plan([_measured_shape("t@1cpu", 4, 0.1)])
    written = write_target_report(plan, tmp_path)
    assert {p.name for p in written} >= {"plan.md", "plan.html", "throughput_usl.png"}
    md = (tmp_path / "plan.md").read_text()
    f = plan["shapes"][0]["figures"]
    assert f"limit concurrency to {f['recommended_limit']} per replica" in md
    assert "no retry-storm collapse up to 8" in md and "none up to 8" in md
    assert f"| t@1cpu | {f['knee_concurrency']:.3g} |" in md


def test_failed_shape_and_url_target_still_render(tmp_path: Path) -> None:
    failed = {"label": "t@as-run", "cpus": None, "errors": ["LaunchError: it never answered"],
              "ladder": {"points": []}}  # fmt: skip
    plan = _plan([failed], kind="url")
    write_target_report(plan, tmp_path)
    md = to_markdown(target_document(plan))
    assert "URL target: planned once, as it runs" in md
    assert "LaunchError: it never answered" in md
    assert "No shape was measured" in md


def test_gates_read_each_shapes_figures() -> None:
    plan = _plan([_measured_shape("a@1cpu", 4, 0.1), _measured_shape("b@2cpu", 16, 0.1)])
    results = evaluate(parse_gates("knee_concurrency<8"), plan["variants"])
    assert {r.variant: r.failed for r in results} == {"a@1cpu": True, "b@2cpu": False}
    unknown = evaluate(parse_gates("storm_margin_duplicates<8"), {"a@1cpu": {}})
    assert unknown[0].failed and unknown[0].value is None
