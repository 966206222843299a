"""The plan's report: plots, plan.md and a self-contained plan.html from one plan.json.

Both files are one Document (loadtest/report/) rendered twice, so the Markdown and the HTML
never say different things; the HTML inlines its plots and references nothing outside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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

THREAD_FREE = ("future", "batched")  # the waiters that park no executor worker
THRESHOLD_PNG = "threshold.png"
HOL_PNG = "hol_p99.png"


# ---------------------------------------------------------------- facts from the plan


def _rows(plan: dict[str, Any], waiter: str) -> list[dict[str, Any]]:
    return [r for r in plan["rows"] if r["waiter"] == waiter]


def _fmt_measured(row: dict[str, Any]) -> str:
    if row["verdict"] == "error":
        return "error"
    if row["measured_wedge_duplicates"] is None:
        return f"none up to {row['max_tested']}"
    return str(row["measured_wedge_duplicates"])


def _hol_ends(row: dict[str, Any]) -> tuple[int, dict, int, dict] | None:
    """(lowest D, its figures, highest D, its figures) when the row has latency data."""
    levels = sorted((int(d), v) for d, v in row["hol_latency_ms"].items())
    if len(levels) < 2:
        return None
    return levels[0][0], levels[0][1], levels[-1][0], levels[-1][1]


def recommendations(plan: dict[str, Any]) -> list[str]:
    out = []
    for row in _rows(plan, "to_thread"):
        measured, pool = row["measured_wedge_duplicates"], row["pool_size"]
        if measured is not None:
            out.append(
                f"With the to_thread waiter on {row['cpus']}-CPU hosts (pool of {pool} workers), "
                f"keep same-token retry fan-out below {measured} concurrent duplicates or the "
                f"server wedges (predicted {row['predicted_wedge_duplicates']}, "
                f"measured {measured})."
            )
        elif row["verdict"] != "error":
            out.append(
                f"With the to_thread waiter on {row['cpus']}-CPU hosts no wedge up to "
                f"{row['max_tested']} duplicates tested (predicted "
                f"{row['predicted_wedge_duplicates']})."
            )
    for waiter in THREAD_FREE:
        rows = [r for r in _rows(plan, waiter) if r["verdict"] != "error"]
        if rows and all(r["measured_wedge_duplicates"] is None for r in rows):
            tested = min(r["max_tested"] for r in rows)
            shapes = ", ".join(str(r["cpus"]) for r in rows)
            out.append(
                f"The {waiter} waiter has no such limit: no wedge up to {tested} concurrent "
                f"duplicates tested on {shapes}-CPU hosts, and it parks no worker per duplicate."
            )
    out.extend(_hol_sentence(plan))
    out.append(
        "Size by what Python sees, not by the container limit: CPython <=3.12 sizes the pool "
        "from os.cpu_count() (all the host's CPUs; neither a `cpus:` quota nor a cpuset changes "
        "it), 3.13+ from os.process_cpu_count() (a cpuset shrinks it, a `cpus:` quota does not). "
        "A container with `cpus: 2` on a 64-CPU host gets 32 workers, so a threshold of 32."
    )
    return out


def _hol_sentence(plan: dict[str, Any]) -> list[str]:
    by_cpus = {r["cpus"]: r for r in _rows(plan, "to_thread") if _hol_ends(r)}
    if not by_cpus:
        return []
    row = by_cpus[max(by_cpus)]
    d0, low, dn, high = _hol_ends(row)  # type: ignore[misc]
    text = (
        f"Below the threshold waiting duplicates still cost everyone with to_thread: on "
        f"{row['cpus']}-CPU hosts, {dn} duplicates waiting on one agent raised unrelated agents' "
        f"p99 latency from {low['p99']:.0f} ms (D={d0}) to {high['p99']:.0f} ms"
    )
    twin = [r for r in _rows(plan, "future") if r["cpus"] == row["cpus"] and _hol_ends(r)]
    if twin:
        _, flow, _, fhigh = _hol_ends(twin[0])  # type: ignore[misc]
        text += f"; with the future waiter it went from {flow['p99']:.0f} to {fhigh['p99']:.0f} ms"
    return [text + ". Prefer the future waiter (the merged fix)."]


# ---------------------------------------------------------------- plots


def plot_threshold(plan: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    cpus = sorted({r["cpus"] for r in plan["rows"]})
    dense = list(range(min(cpus), max(cpus) + 1))
    max_dup = plan["settings"]["max_duplicates"]
    if any(r["waiter"] == "to_thread" for r in plan["rows"]):
        ax.plot(
            dense,
            [min(32, c + 4) for c in dense],
            "-",
            color="tab:blue",
            label="predicted (to_thread): min(32, cpus+4)",
        )
    styles = {
        "to_thread": ("o", "tab:red"),
        "future": ("^", "tab:green"),
        "batched": ("v", "tab:purple"),
    }
    for waiter in plan["settings"]["waiters"]:
        marker, color = styles.get(waiter, ("s", "tab:gray"))
        hit = [r for r in _rows(plan, waiter) if r["measured_wedge_duplicates"] is not None]
        none = [
            r
            for r in _rows(plan, waiter)
            if r["measured_wedge_duplicates"] is None
            and r["verdict"] != "error"
            and r["max_tested"]
        ]
        if hit:
            ax.scatter(
                [r["cpus"] for r in hit],
                [r["measured_wedge_duplicates"] for r in hit],
                marker=marker,
                s=70,
                color=color,
                zorder=3,
                label=f"measured wedge ({waiter})",
            )
        if none:
            ax.scatter(
                [r["cpus"] for r in none],
                [r["max_tested"] for r in none],
                marker=marker,
                s=70,
                facecolors="none",
                edgecolors=color,
                zorder=3,
                label=f"no wedge up to max tested ({waiter})",
            )
    ax.axhline(max_dup, color="gray", lw=0.8, ls=":", label=f"--max-duplicates {max_dup}")
    ax.set_xlabel("host CPUs (emulated)")
    ax.set_ylabel("concurrent same-token duplicates")
    ax.set_title("Wedge threshold vs CPUs")
    ax.set_xticks(cpus)
    ax.set_ylim(0, max_dup * 1.12)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center right")
    save_png(fig, path)


def plot_hol(plan: dict[str, Any], path: Path) -> None:
    waiters = plan["settings"]["waiters"]
    fig, axes = plt.subplots(1, len(waiters), figsize=(5 * len(waiters), 4.2), dpi=110, sharey=True)
    axes = [axes] if len(waiters) == 1 else list(axes)
    for ax, waiter in zip(axes, waiters, strict=True):
        for row in _rows(plan, waiter):
            levels = sorted((int(d), v["p99"]) for d, v in row["hol_latency_ms"].items())
            if levels:
                xs, ys = zip(*levels, strict=True)
                ax.plot(xs, ys, "o-", label=f"{row['cpus']} CPUs (pool {row['pool_size']})")
        ax.set_title(f"waiter: {waiter}")
        ax.set_xlabel("duplicates waiting on one hot agent (D)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("unrelated agents' p99 latency (ms)")
    fig.suptitle("Head-of-line cost of waiting duplicates")
    save_png(fig, path)


# ---------------------------------------------------------------- document


def plan_document(plan: dict[str, Any]) -> Document:
    s, machine = plan["settings"], plan["settings"]["machine"]
    state = "complete" if plan["complete"] else "INCOMPLETE (partial results)"
    blocks: list[Block] = [
        Paragraph(
            f"Status: {state}; {plan['elapsed_s']} s on a machine with {machine['os_cpu_count']} "
            f"CPUs, Python {machine['python']}. Model: {s['model_latency_ms']:g} ms x "
            f"{s['model_cycles']} calls per invocation.",
        ),
        Heading("Recommendation"),
        Callout(plan["recommendation"] or recommendations(plan)),
        Heading("Wedge threshold per host shape"),
        Table(*_threshold_table(plan)),
        Image(THRESHOLD_PNG, "wedge threshold vs cpus"),
        Heading("Head-of-line cost below the threshold"),
        Paragraph(
            "D duplicates wait on one hot agent while a batch of pool-1 unrelated agents "
            "(each a primary of its own) is invoked; latency is measured by the client, "
            "workers from /v1/status while the batch runs. One server per row, levels in turn, "
            "nothing else probing meanwhile.",
        ),
        Table(*_hol_table(plan)),
        Image(HOL_PNG, "unrelated-agent p99 vs waiting duplicates"),
        Heading("Cost per waiting duplicate"),
        Table(*_cost_table(plan)),
        Heading("Which CPU count sizes the pool"),
        Table(*_rules_table(machine)),
        Heading("Method and caveats"),
        BulletList(_method_notes(plan)),
    ]
    return Document(f"Stampede capacity plan — {plan['run_id']}", blocks)


def _threshold_table(plan: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["CPUs", "waiter", "pool (<=3.12)", "pool (3.13+)", "predicted", "measured", "match"]
    rows = [
        [
            str(r["cpus"]),
            r["waiter"],
            str(r["pool_size"]),
            str(r["pool_size_py313"]),
            "none"
            if r["predicted_wedge_duplicates"] is None
            else str(r["predicted_wedge_duplicates"]),
            _fmt_measured(r),
            r["verdict"],
        ]
        for r in plan["rows"]
    ]
    return head, rows


def _hol_table(plan: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["CPUs", "waiter", "D", "parked workers", "busy workers", "p50 ms", "p99 ms", "n"]
    rows = []
    for r in plan["rows"]:
        for d, v in sorted(r["hol_latency_ms"].items(), key=lambda kv: int(kv[0])):
            rows.append(
                [
                    str(r["cpus"]),
                    r["waiter"],
                    d,
                    str(v["parked_workers"]),
                    f"{v['busy_workers']}/{r['pool_size']}",
                    f"{v['p50']:.0f}",
                    f"{v['p99']:.0f}",
                    str(v["n"]),
                ]
            )
    return head, rows


def _cost_table(plan: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["waiter", "duplicates", "threads per waiter", "RSS per waiter", "release p50/p99 ms"]
    rows = [
        [
            waiter,
            str(c["duplicates"]),
            f"{c['threads_per_waiter']:.2f}",
            f"{c['rss_per_waiter_bytes'] / 1024:.1f} KiB",
            f"{c['release_p50_ms']:.1f} / {c['release_p99_ms']:.1f}",
        ]
        for waiter, c in plan["waiter_cost"].items()
    ]
    return head, rows


def _rules_table(machine: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["where the server runs", "CPython <=3.12: os.cpu_count()", "3.13+: process_cpu_count()"]
    rows = [
        ["host or VM with C CPUs", "min(32, C+4)", "min(32, C+4)"],
        ["container `cpus: C` (CFS quota) on an H-CPU host", "min(32, H+4)", "min(32, H+4)"],
        ["container `cpuset` of C CPUs on an H-CPU host", "min(32, H+4)", "min(32, C+4)"],
        [
            f"this machine ({machine['os_cpu_count']} CPUs, affinity "
            f"{machine['process_cpu_count']}, quota {machine['cfs_quota_cpus']})",
            str(machine["pool_size_py312"]),
            str(machine["pool_size_py313"]),
        ],
    ]
    return head, rows


def _method_notes(plan: dict[str, Any]) -> list[str]:
    s = plan["settings"]
    notes = [
        "A host shape is emulated by the server's --cpus, which sets its default-executor size "
        "exactly as CPython would on such a host. The real CPU cap is min(cpus, this machine's "
        f"{s['machine']['process_cpu_count']}) CPUs, enforced as below: an 8-CPU shape here "
        "has the pool of an 8-CPU host but only this machine's cores. The wedge depends on the "
        "pool size, not on CPU speed, so the threshold carries over; latencies do not.",
        "Each wedge probe starts a fresh server, sends one primary, waits until its first model "
        "call runs, then fires D concurrent duplicates with the same Idempotency-Key. The answer "
        "is the server's exact wedge flag (all workers parked by waiters while the primary's "
        "next model call is queued), or every duplicate served with the primary's body. A "
        "survival only counts if all D duplicates were waiting before the first model call "
        "could have ended; otherwise the probe is repeated with twice the model latency.",
        "Probe order follows the prediction: D=predicted-1 and D=predicted first; bisection only "
        "when that fails. The wedge is monotone in D: with to_thread every extra duplicate "
        "parks one more worker, so if D wedges, D+1 does too.",
        '"None up to N" for the future and batched waiters covers every smaller D as well: '
        "they hold no executor worker (peak parked workers measured: "
        + ", ".join(f"{w} {_peak_parked(plan, w)}" for w in THREAD_FREE)
        + "), so the only executor work is the primaries' model calls, which always finish; "
        "fewer duplicates only mean fewer futures to resolve.",
        "Every server's log is kept in servers/ beside this report; a wedged server logs the "
        "stacks of all its threads at the moment the flag was raised.",
    ]
    for r in plan["rows"]:
        cap = r["cpu_cap"]
        retries = sum(1 for p in r["probes"] if not p["conclusive"])
        notes.append(
            f"cpus={r['cpus']} {r['waiter']}: probes at D="
            f"{[p['duplicates'] for p in r['probes']]} ({retries} repeated for late arrival); "
            f"CPU cap requested {cap['requested']:g}, enforced {cap['enforced']} via "
            f"{cap['method']}" + (f"; errors: {'; '.join(r['errors'])}" if r["errors"] else "")
        )
    return notes


def _peak_parked(plan: dict[str, Any], waiter: str) -> int | str:
    peaks = [p["peak_parked_workers"] for r in _rows(plan, waiter) for p in r["probes"]]
    return max(peaks) if peaks else "n/a"


def write_report(plan: dict[str, Any], run_dir: Path) -> list[Path]:
    plot_threshold(plan, run_dir / THRESHOLD_PNG)
    plot_hol(plan, run_dir / HOL_PNG)
    return [
        run_dir / THRESHOLD_PNG,
        run_dir / HOL_PNG,
        *write_document(plan_document(plan), run_dir, "plan"),
    ]
