"""A target plan's report: three plots and plan.md / plan.html from one plan.json.

One Document (loadtest/report/) rendered twice, so the Markdown and the HTML say the same.
Plots have one panel per host shape on shared axes, so shapes compare at a glance:
throughput against concurrency with the USL fit (drawn dashed and labelled "not quoted" when
it does not fit), p99 latency against concurrency with the SLO line, and goodput against
same-key duplicates in the retry storm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from stampede.loadtest.report import (
    Block,
    BulletList,
    Callout,
    Document,
    Heading,
    Image,
    Paragraph,
    Table,
    write_document,
)
from stampede.loadtest.report.mpl import plt
from stampede.loadtest.report.plots import save_png
from stampede.loadtest.verdict.usl import usl

THROUGHPUT_PNG = "throughput_usl.png"
LATENCY_PNG = "latency_slo.png"
STORM_PNG = "storm_margin.png"


def _measured(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in plan["shapes"] if s["ladder"]["points"]]


def _panels(count: int, title: str) -> tuple[Any, list[Any]]:
    fig, axes = plt.subplots(
        1, max(1, count), figsize=(4.6 * max(1, count), 4.0), dpi=110, sharex=True, sharey=True
    )
    fig.suptitle(title)
    return fig, list(np.atleast_1d(axes))


def _concurrency_axis(ax: Any, title: str) -> None:
    """The x axis both ladder plots share: closed-model concurrency, doubling per step."""
    ax.set_title(title)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrency N (closed model)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def plot_throughput(plan: dict[str, Any], path: Path) -> None:
    shapes = _measured(plan)
    fig, axes = _panels(len(shapes), "Goodput vs concurrency, with the USL fit")
    for ax, shape in zip(axes, shapes, strict=False):
        pts = shape["ladder"]["points"]
        ns = [p["concurrency"] for p in pts]
        ax.plot(ns, [p["goodput_per_s"] for p in pts], "o", color="tab:blue", label="measured")
        fit = shape.get("usl") or {}
        if fit.get("lam") is not None:
            dense = np.geomspace(1, max(ns), 200)
            label = f"USL R²={fit['r2']:.2f}" + ("" if fit["fits"] else " (not quoted)")
            ax.plot(
                dense,
                usl(dense, fit["lam"], fit["sigma"], fit["kappa"]),
                "-" if fit["fits"] else ":",
                color="tab:orange",
                label=label,
            )
        knee = shape["ladder"]["summary"]["knee_concurrency"]
        if knee:
            ax.axvline(knee, color="gray", ls="--", lw=0.8, label=f"knee N={knee:g}")
        _concurrency_axis(ax, shape["label"])
    axes[0].set_ylabel("goodput (intents/s)")
    save_png(fig, path)


def plot_latency(plan: dict[str, Any], path: Path) -> None:
    shapes = _measured(plan)
    slo = plan["settings"]["slo_p99_ms"]
    fig, axes = _panels(len(shapes), "Intent latency vs concurrency")
    for ax, shape in zip(axes, shapes, strict=False):
        pts = [p for p in shape["ladder"]["points"] if p["latency_ms"]]
        ns = [p["concurrency"] for p in pts]
        for q, style in (("p50", "o-"), ("p99", "s-")):
            ax.plot(ns, [p["latency_ms"][q] for p in pts], style, ms=4, label=q)
        ax.axhline(slo, color="tab:red", lw=1, label=f"SLO p99 {slo:g} ms")
        limit = (shape.get("figures") or {}).get("recommended_limit")
        if limit:
            ax.axvline(limit, color="tab:green", ls="--", lw=0.8, label=f"limit {limit}")
        _concurrency_axis(ax, shape["label"])
    axes[0].set_ylabel("intent latency (ms)")
    save_png(fig, path)


def plot_storm(plan: dict[str, Any], path: Path) -> None:
    shapes = [s for s in plan["shapes"] if s.get("storm")]
    fig, axes = _panels(len(shapes), "Retry-storm margin: goodput vs same-key duplicates")
    for ax, shape in zip(axes, shapes, strict=False):
        storm = shape["storm"]
        steps = sorted(storm["steps"], key=lambda p: p["duplicates"])
        ds = [p["duplicates"] for p in steps]
        ax.plot(ds, [p["goodput_per_s"] for p in steps], "o-", color="tab:purple")
        wedged = [p for p in steps if p["stalled"]]
        if wedged:
            ax.plot([p["duplicates"] for p in wedged], [0] * len(wedged), "x", color="red", ms=9)
        ax.axhline(
            storm["baseline_goodput_per_s"] / 2, color="gray", ls=":", label="collapse (half)"
        )
        if storm["margin_duplicates"] is not None:
            ax.axvline(storm["margin_duplicates"], color="tab:red", ls="--", lw=0.8,
                       label=f"margin D={storm['margin_duplicates']}")  # fmt: skip
        ax.set_title(f"{shape['label']} at N={storm['concurrency']}")
        ax.set_xlabel("duplicates per intent (D)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("goodput (intents/s)")
    save_png(fig, path)


def _g(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def _shape_table(plan: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = [
        "shape", "knee N", "peak /s", "USL σ", "USL κ", "N*", "R²", "SLO max N", "limit",
        "storm margin D", "retry policy",
    ]  # fmt: skip
    rows = []
    for s in plan["shapes"]:
        f, fit = s.get("figures") or {}, s.get("usl") or {}
        margin = _g(f.get("storm_margin_duplicates"))
        if f.get("storm_margin_lower_bound") and f.get("storm_margin_duplicates"):
            margin = f"none up to {f['storm_margin_duplicates'] - 1}"
        quoted = bool(fit.get("fits"))
        rows.append([
            s["label"], _g(f.get("knee_concurrency")), _g(f.get("peak_goodput")),
            _g(fit.get("sigma")) if quoted else "not quoted",
            _g(fit.get("kappa")) if quoted else "not quoted",
            _g(fit.get("n_star")) if quoted else "-", _g(fit.get("r2")),
            _g(f.get("slo_max_concurrency")), _g(f.get("recommended_limit")), margin,
            _g(f.get("retry_policy")),
        ])  # fmt: skip
    return head, rows


def _caps_table(plan: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["shape", "method", "CPU quota", "cpuset", "memory", "pids", "notes"]
    rows = []
    for s in plan["shapes"]:
        caps = s.get("caps") or {}
        enforced = caps.get("enforced") or {}
        memory = enforced.get("memory_bytes")
        rows.append([
            s["label"], caps.get("method") or "none (URL target)", _g(enforced.get("cpus")),
            ",".join(map(str, s.get("cpuset") or [])) or "-",
            f"{memory / 2**20:.0f} MiB" if memory else "-", _g(enforced.get("pids")),
            "; ".join(caps.get("notes") or []) or "-",
        ])  # fmt: skip
    return head, rows


def _ladder_table(plan: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["shape", "N", "goodput /s", "p50 ms", "p99 ms", "ok / ended", "target CPU"]
    rows = [
        [
            s["label"], str(p["concurrency"]), _g(p["goodput_per_s"]),
            _g(p["latency_ms"].get("p50")), _g(p["latency_ms"].get("p99")),
            f"{p['intents_ok']} / {p['intents_ended']}", _g(p["target_cpu_cores"]),
        ]
        for s in plan["shapes"]
        for p in s["ladder"]["points"]
    ]  # fmt: skip
    return head, rows


def _storm_table(plan: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["shape", "N", "D", "policy", "goodput /s", "attempts/intent", "ok / ended", "wedged"]
    rows = []
    for s in plan["shapes"]:
        steps = list((s.get("storm") or {}).get("steps") or [])
        steps += list(((s.get("policies") or {}).get("trials") or {}).values())
        for p in steps:
            rows.append([
                s["label"], str(p["concurrency"]), str(p["duplicates"]), p["policy"],
                _g(p["goodput_per_s"]), _g(p["attempts_per_intent"]),
                f"{p['intents_ok']} / {p['intents_ended']}", _g(p["stalled"]),
            ])  # fmt: skip
    return head, rows


def _method(plan: dict[str, Any]) -> list[str]:
    s = plan["settings"]
    notes = [
        "Ladder: closed model, no retries, no duplicates; each level a fresh window of "
        f"{s['step_s']:g} s after a warm-up of one intent's expected latency. Coarse doubling, "
        "then bisection around the knee, where goodput falls and the SLO's edge.",
        "Knee: where the single-client line X(1)·N meets the peak goodput, N = X_max / X(1) "
        "(operational analysis). Peak: the highest goodput measured.",
        "USL fitted by least squares over every level; not quoted when R² < 0.9, with fewer "
        "than 4 levels, or across a cliff (goodput halving between neighbouring levels).",
        "Storm margin: at the knee, compare's storm (D same-key duplicates per intent, "
        "full-jitter retries, the client giving up at the SLO); collapse below half of D=0's "
        "goodput or nothing succeeding (a wedge), then bisection. The target restarts after "
        "a collapsed step.",
        "Load generator: Stampede's in-process asyncio closed loop (closed_load.py), not "
        "Locust, whose start-up per step would exceed the plan's time budget.",
    ]
    if s["target"]["kind"] == "url":
        notes.insert(0, "URL target: planned once, as it runs: Stampede neither started nor "
                     "capped it, so the plan has one host shape, the one it has.")  # fmt: skip
    else:
        machine = s["machine"]["process_cpu_count"]
        notes.insert(
            0,
            f"Host shapes: a CFS quota of min(cpus, {machine}) CPUs, a cpuset of as many CPUs "
            "(affinity of every thread), a memory cap, read back from the kernel below; "
            "'{cpus}' in the command becomes the shape's count. This machine has "
            f"{machine} usable CPUs: larger shapes get all of them.",
        )
    return notes


def _gate_line(g: dict[str, Any]) -> str:
    return f"{g['variant']}: {g['gate']}: {g['result']} (measured {_g(g['value'])})"


def target_document(plan: dict[str, Any]) -> Document:
    s = plan["settings"]
    state = "complete" if plan["complete"] else "INCOMPLETE (partial results)"
    target = s["target"]
    what = target.get("command") or target.get("url")
    advice = [line for shape in plan["shapes"] for line in shape.get("advice") or []]
    errors = [f"{sh['label']}: {e}" for sh in plan["shapes"] for e in sh["errors"]]
    blocks: list[Block] = [
        Paragraph(
            f"Target {target['name']} ({target['kind']}: `{what}`). Status: {state}; "
            f"{plan['elapsed_s']} s. SLO p99 {s['slo_p99_ms']:g} ms, --max-concurrency "
            f"{s['max_concurrency']}, --max-duplicates {s['max_duplicates']}"
            + (f", --target-rate {s['target_rate']:g}/s" if s["target_rate"] else "")
            + "."
        ),
        Heading("Recommendations"),
        Callout(advice or ["No shape was measured: see the errors below."]),
        Heading("Per host shape"),
        Table(*_shape_table(plan)),
        Image(THROUGHPUT_PNG, "goodput vs concurrency with the USL fit"),
        Image(LATENCY_PNG, "latency vs concurrency with the SLO"),
        Image(STORM_PNG, "retry-storm margin"),
    ]
    if plan.get("gates"):
        blocks += [
            Heading("Gates"),
            BulletList([_gate_line(g) for g in plan["gates"]]),
        ]
    if errors:
        blocks += [Heading("Errors"), BulletList(errors)]
    blocks += [
        Heading("Host shapes as enforced"),
        Table(*_caps_table(plan)),
        Heading("Concurrency ladder"),
        Table(*_ladder_table(plan)),
        Heading("Retry storm and retry policies"),
        Table(*_storm_table(plan)),
        Heading("Method"),
        BulletList(_method(plan)),
    ]
    return Document(f"Stampede capacity plan — {target['name']} — {plan['run_id']}", blocks)


def write_target_report(plan: dict[str, Any], run_dir: Path) -> list[Path]:
    plot_throughput(plan, run_dir / THROUGHPUT_PNG)
    plot_latency(plan, run_dir / LATENCY_PNG)
    plot_storm(plan, run_dir / STORM_PNG)
    written = [run_dir / THROUGHPUT_PNG, run_dir / LATENCY_PNG, run_dir / STORM_PNG]
    return [*written, *write_document(target_document(plan), run_dir, "plan")]
