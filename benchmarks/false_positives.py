"""Zero false positives: every fixed or healthy form, stormed again and again with the real
`stampede compare`, is never wedged, failing or leaking.

The forms: each built-in scenario's fixes, run as command targets (`python -m stampede.server
--<setting> <fix>`, which serves the probe's metrics), and every healthy or fixed user-style
example in examples/ that a test storms as one, black-box and, where a probed form exists,
with `stampede.probe.install(app)`. Each storm is the scenario's short storm (3 s), the forms
of one scenario grouped a few to a compare run (a run's budget is duration x targets + 30 s).
Round-robin: storm i of every form before storm i + 1 of any, so a campaign cut short still
has as many storms of each. Prints a markdown table (per form: storms, the count of each
state, the evidence seen, the lowest success ratio) and writes every storm's row as JSON to
`--out`. Exit code 1 if any storm of any form was wedged, failing or leaking.

    nice -n 5 .venv/bin/python benchmarks/false_positives.py --out fp.json > fp.md
    .venv/bin/python benchmarks/false_positives.py --storms 2 --only 'thread_limiter|busy'

Not part of the test suite: ten storms of some forty forms take about an hour on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BAD = ("wedged", "failing", "leaking")
STATES = (
    "healthy", "degraded", "serialized", "overloaded", "failing", "stalled", "wedged",
    "leaking", "erroring",
)  # fmt: skip
GROUP = 3  # targets per compare run
SERVER = f"{sys.executable} -m stampede.server --port {{port}}"
BASE = ["--duration", "3", "--stall-seconds", "2", "--grace", "1"]
# scenario -> its storm's settings (the tests' own: users per detector, the client timeout)
SCENARIO_ARGS: dict[str, list[str]] = {
    "idempotency": ["--users", "4", "--client-timeout", "2.5"],
    "stream": ["--users", "4"],
    "session": ["--users", "4"],
    "loop_block": ["--users", "4"],
    "spin": ["--users", "4"],
    "state_leak": ["--users", "4"],
    "thread_limiter": ["--users", "8"],
    "slot_release": ["--users", "4"],
    "shared_agent": ["--users", "1"],
}


def uvicorn(app: str) -> str:
    # examples.probed*:NAME and *:*probed* are factories (they install the probe on a new app)
    factory = "--factory " if "probed" in app else ""
    return f"uvicorn {factory}{app} --port {{port}}"


# (form name, scenario, command): the built-in fixes first, then the examples.
FORMS: list[tuple[str, str, str]] = [
    ("builtin idempotency future", "idempotency", f"{SERVER} --waiter future"),
    ("builtin idempotency batched", "idempotency", f"{SERVER} --waiter batched"),
    ("builtin stream asyncio_tasks", "stream", f"{SERVER} --stream-impl asyncio_tasks"),
    ("builtin stream owner_task", "stream", f"{SERVER} --stream-impl owner_task"),
    ("builtin session closing", "session", f"{SERVER} --session-impl closing"),
    ("builtin loop_block to_thread", "loop_block", f"{SERVER} --tool-impl to_thread"),
    ("builtin spin owner_task", "spin", f"{SERVER} --cancel-impl owner_task"),
    ("builtin state_leak reaped", "state_leak", f"{SERVER} --session-store reaped"),
    ("builtin thread_limiter async_wait", "thread_limiter",
     f"{SERVER} --thread-limiter-impl async_wait"),
    ("builtin slot_release release_finally", "slot_release",
     f"{SERVER} --slot-impl release_finally"),
    ("builtin shared_agent per_session", "shared_agent",
     f"{SERVER} --shared-agent-impl per_session"),
    ("builtin shared_agent locked", "shared_agent", f"{SERVER} --shared-agent-impl locked"),
    *[
        (app.removeprefix("examples."), scenario, uvicorn(app))
        for scenario, apps in {
            "idempotency": [
                "examples.idempotency_cache:fixed_app", "examples.probed:future_cache",
                "examples.busy_model:app", "examples.probed:busy",
                "examples.chatty_logs:app", "examples.probed:chatty",
                "examples.late_body:fixed_app", "examples.shared_agent:fixed_app",
                "examples.serial_broker:fixed_app", "examples.sync_cache:fixed_app",
                "examples.worker_loop:fixed_app", "examples.worker_loop:probed_fixed_app",
                "examples.slow_upstream:healthy_app", "examples.slow_upstream:healthy_probed_app",
                "examples.session_workers:fixed_app", "examples.probed:session_workers_fixed",
            ],
            "stream": ["examples.sse_relay:fixed_app", "examples.probed:sse_relay_fixed"],
            "session": ["examples.ws_bridge:fixed_app", "examples.probed:ws_bridge_fixed"],
            "loop_block": [
                "examples.sync_tool:fixed_app", "examples.probed_runtime:sync_tool_fixed",
            ],
            "spin": [
                "examples.deadline_tools:fixed_app", "examples.probed_runtime:deadline_tools_fixed",
            ],
            "state_leak": [
                "examples.session_store:fixed_app", "examples.probed_runtime:session_store_fixed",
            ],
            "thread_limiter": [
                "examples.thread_limiter_app:fixed_app", "examples.probed:thread_limiter_fixed",
            ],
            "slot_release": [
                "examples.slot_limiter:fixed_app", "examples.probed:slot_limiter_fixed",
            ],
            "shared_agent": [
                "examples.shared_agent_app:fixed_app", "examples.probed:shared_agent_fixed",
            ],
        }.items()
        for app in apps
    ],
]  # fmt: skip


def groups(forms: list[tuple[str, str, str]]) -> list[list[tuple[str, str, str]]]:
    """The forms of each scenario, GROUP to a compare run."""
    out: list[list[tuple[str, str, str]]] = []
    for scenario in dict.fromkeys(s for _, s, _ in forms):
        same = [f for f in forms if f[1] == scenario]
        out += [same[i : i + GROUP] for i in range(0, len(same), GROUP)]
    return out


def storm(group: list[tuple[str, str, str]], i: int, out: Path) -> list[dict[str, Any]]:
    """One compare run of a group of forms; one row per form."""
    scenario = group[0][1]
    argv = [sys.executable, "-m", "stampede", "compare", "--scenario", scenario, *BASE]
    argv += [*SCENARIO_ARGS[scenario], "--out", str(out), "--no-progress", "--no-plots"]
    argv += ["--wait", "900"]
    names = {f"t{n}": form for n, (form, _, _) in enumerate(group)}
    for n, (_, _, command) in enumerate(group):
        argv += ["--target", f"t{n}={command}"]
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    wall = round(time.monotonic() - started, 1)
    try:
        summary = json.loads((out / "latest" / "summary.json").read_text())
        variants = summary["variants"]
    except (OSError, ValueError, KeyError) as exc:
        tail = (proc.stderr or proc.stdout)[-300:]
        return [_row(form, scenario, i, {"error": f"no summary: {exc}: {tail}"}, [], wall)
                for form in names.values()]  # fmt: skip
    rows = []
    for key, form in names.items():
        v = variants.get(key) or {"error": "not in the summary"}
        verdict = [line for line in summary.get("verdict", []) if line.startswith(f"{key}")]
        rows.append(_row(form, scenario, i, v, verdict, wall))
    return rows


def _row(
    form: str, scenario: str, i: int, v: dict[str, Any], verdict: list[str], wall: float
) -> dict[str, Any]:
    state = v.get("state") or {}
    resources = v.get("resources") or {}
    row = {
        "form": form,
        "scenario": scenario,
        "storm": i,
        "error": v.get("error"),
        "state": state.get("state") or ("not run" if v.get("error") else "unknown"),
        "label": state.get("label"),
        "evidence": state.get("evidence"),
        "success_ratio": state.get("success_ratio"),
        "requests_ok": (v.get("requests") or {}).get("ok"),
        "leaked_tasks": v.get("leaked_tasks"),
        "threads_held": (resources.get("threads") or {}).get("held"),
        "threads_late_growth": (resources.get("threads") or {}).get("late_growth"),
        "peak_inflight": resources.get("peak_inflight"),
        "resources_leaking": resources.get("leaking"),
        "run_wall_s": wall,
    }
    if row["state"] in BAD or row["state"] in ("unknown", "not run"):
        row["verdict"] = verdict  # what to look into
    return row


def table(rows: list[dict[str, Any]], forms: list[tuple[str, str, str]]) -> str:
    head = ["form", "scenario", "storms", *STATES, "other", "evidence", "min success"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for form, scenario, _ in forms:
        mine = [r for r in rows if r["form"] == form]
        states = Counter(r["state"] for r in mine)
        other = sum(n for s, n in states.items() if s not in STATES)
        evidence = ", ".join(sorted({str(r["evidence"]) for r in mine if r["evidence"]}))
        ratios = [r["success_ratio"] for r in mine if isinstance(r["success_ratio"], int | float)]
        cells = [form, scenario, str(len(mine)), *[str(states.get(s, 0)) for s in STATES]]
        cells += [str(other), evidence or "-", f"{min(ratios):.3f}" if ratios else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storms", type=int, default=10, help="storms of each form (default 10)")
    parser.add_argument("--only", help="a regex: only the forms (or scenarios) it matches")
    parser.add_argument("--out", type=Path, help="write every storm's row here as JSON")
    args = parser.parse_args()
    if not 1 <= args.storms <= 100:
        parser.error(f"--storms must be 1..100, got {args.storms}")
    try:
        only = re.compile(args.only) if args.only else None
    except re.error as exc:
        parser.error(f"--only {args.only!r}: {exc}")
    forms = [f for f in FORMS if only is None or only.search(f[0]) or only.search(f[1])]
    if not forms:
        parser.error(f"--only {args.only!r} matches no form")
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="stampede-fp-") as tmp:
        for i in range(args.storms):
            for n, group in enumerate(groups(forms)):
                for row in storm(group, i, Path(tmp) / f"s{i}-g{n}"):
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
                if args.out:  # kept current, so a campaign cut short keeps what it did
                    args.out.write_text(json.dumps({"storms": rows}, indent=1))
    bad = [r for r in rows if r["state"] in BAD]
    errors = [r for r in rows if r["state"] in ("not run", "unknown")]
    wall = round(time.monotonic() - started)
    print(f"{len(rows)} storms of {len(forms)} fixed or healthy forms, {args.storms} each; "
          f"wall {wall} s; wedged/failing/leaking: {len(bad)}; not run or unknown: "
          f"{len(errors)}\n")  # fmt: skip
    print(table(rows, forms))
    for r in bad:
        print(f"\nFALSE POSITIVE: {r['form']} storm {r['storm']}: {r['label']}")
        print("\n".join(f"    {line}" for line in r.get("verdict", [])))
    if args.out:
        result = {"storms": rows, "forms": len(forms), "false_positives": len(bad), "wall_s": wall}
        args.out.write_text(json.dumps(result, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
