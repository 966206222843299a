"""False positives of the thread-limiter, slot-release and shared-agent detectors: many short
storms of every fixed form, none of which may be flagged. Not part of the test suite:

    .venv/bin/python benchmarks/hazard_false_positives.py            # 10 storms of each form
    .venv/bin/python benchmarks/hazard_false_positives.py --storms 3 --json

A fixed form is the built-in server's fix (run as a command target: `python -m stampede.server
--<flag> <fix>`, which serves the probe's metrics, so its evidence is exact) and the example
app's `fixed_app` (a black-box command target), and its probed factory
(examples/probed.py). Each storm is a `stampede compare` of its own with that one target (a
run's budget is duration x variants + 30 s, and on a loaded 2-core machine one variant's
start-up can take 15 s), its own server, the same seeded storm.
A storm is a false positive when the detector's finding is anything but clean
(thread_limiter: clean and its sync health answering; slot_release: clean; shared_agent:
clean or refusing). Exit code 0 when there is none.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SERVER = f"{sys.executable} -m stampede.server --port {{port}}"
# family -> (users, [(form, command)])
FORMS: dict[str, tuple[int, list[tuple[str, str]]]] = {
    "thread_limiter": (
        8,
        [
            ("builtin_async_wait", f"{SERVER} --thread-limiter-impl async_wait"),
            ("example_fixed", "uvicorn examples.thread_limiter_app:fixed_app --port {port}"),
            (
                "probed_fixed",
                "uvicorn --factory examples.probed:thread_limiter_fixed --port {port}",
            ),
        ],
    ),
    "slot_release": (
        4,
        [
            ("builtin_release_finally", f"{SERVER} --slot-impl release_finally"),
            ("example_fixed", "uvicorn examples.slot_limiter:fixed_app --port {port}"),
            ("probed_fixed", "uvicorn --factory examples.probed:slot_limiter_fixed --port {port}"),
        ],
    ),
    "shared_agent": (
        1,
        [
            ("builtin_per_session", f"{SERVER} --shared-agent-impl per_session"),
            ("builtin_locked", f"{SERVER} --shared-agent-impl locked"),
            ("example_fixed", "uvicorn examples.shared_agent_app:fixed_app --port {port}"),
            ("probed_fixed", "uvicorn --factory examples.probed:shared_agent_fixed --port {port}"),
        ],
    ),
}
# The figures each detector decided on, echoed per storm.
FIGURES = {
    "thread_limiter": (
        "exhausted_s",
        "peak_borrowed",
        "peak_waiting",
        "anyio_parked",
        "sync_health",
    ),
    "slot_release": ("total", "idle", "decay", "idle_intervals"),
    "shared_agent": ("overlap_faults", "overlap_conflicts", "corrupted_answers"),
}
CLEAN = {
    "thread_limiter": {"clean"},
    "slot_release": {"clean"},
    "shared_agent": {"clean", "refusing"},
}


def clean(family: str, block: dict[str, Any]) -> bool:
    if block.get("finding") not in CLEAN[family]:
        return False
    health = block.get("sync_health")
    return health is None or health.get("finding") != "failing"


def run_storm(family: str, users: int, form: str, command: str, i: int, out: Path) -> dict:
    """One storm of one fixed form: its finding, evidence and figures (or why it did not run)."""
    name = f"{form}_{i}"
    argv = [sys.executable, "-m", "stampede", "compare", "--scenario", family]
    argv += ["--duration", "3", "--users", str(users), "--grace", "1", "--stall-seconds", "2"]
    argv += ["--out", str(out / name), "--no-progress", "--wait", "600"]
    argv += ["--target", f"{name}={command}"]
    started = time.monotonic()
    subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=700)
    row: dict[str, Any] = {"family": family, "form": form, "storm": i, "error": None}
    try:
        v = json.loads((out / name / "latest" / "summary.json").read_text())["variants"][name]
    except (OSError, ValueError, KeyError) as exc:
        v = {"error": f"no summary: {exc}"}
    block = v.get(family) or {}
    row.update(
        error=v.get("error"),
        finding=block.get("finding"),
        evidence=block.get("evidence"),
        false_positive=not v.get("error") and not clean(family, block),
        figures={k: block.get(k) for k in FIGURES[family]},
        wall_s=round(time.monotonic() - started, 1),
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storms", type=int, default=10, help="storms of each fixed form")
    parser.add_argument("--family", choices=sorted(FORMS), action="append", help="only these")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    if not 1 <= args.storms <= 50:
        parser.error(f"--storms must be 1..50, got {args.storms}")
    results = []
    forms = [
        (family, users, form, command)
        for family in args.family or list(FORMS)
        for users, commands in [FORMS[family]]
        for form, command in commands
    ]
    with tempfile.TemporaryDirectory(prefix="stampede-fp-") as tmp:
        # Round-robin: storm i of every form before storm i + 1 of any, so a loop cut short
        # still has as many storms of each form.
        for i in range(args.storms):
            for family, users, form, command in forms:
                row = run_storm(family, users, form, command, i, Path(tmp) / family)
                results.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    for family, _, form, _ in forms:
        rows = [r for r in results if r["form"] == form and r["family"] == family]
        ran = [r for r in rows if not r["error"]]
        fps = [r for r in ran if r["false_positive"]]
        if not args.json:
            print(
                f"{family:15} {form:24} storms {len(ran):3}  false positives {len(fps)}  "
                f"errors {len(rows) - len(ran)}"
            )
    if args.json:
        print(json.dumps(results, indent=2))
    return 1 if any(r["false_positive"] for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
