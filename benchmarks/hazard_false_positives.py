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


def run_form(family: str, users: int, form: str, command: str, storms: int, out: Path) -> dict:
    blocks: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    started = time.monotonic()
    for i in range(storms):
        name = f"{form}_{i}"
        argv = [sys.executable, "-m", "stampede", "compare", "--scenario", family]
        argv += ["--duration", "3", "--users", str(users), "--grace", "1", "--stall-seconds", "2"]
        argv += ["--out", str(out / name), "--no-progress", "--wait", "600"]
        argv += ["--target", f"{name}={command}"]
        subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=700)
        try:
            summary = json.loads((out / name / "latest" / "summary.json").read_text())
        except (OSError, ValueError) as exc:
            errors[name] = f"no summary: {exc}"
            continue
        v = summary["variants"][name]
        if v.get("error"):
            errors[name] = v["error"]
        else:
            blocks[name] = v.get(family) or {}
        block = blocks.get(name) or {}
        # One line per storm on stderr: a long loop shows where it is, and what each decided.
        print(
            json.dumps(
                {
                    "storm": name,
                    "finding": block.get("finding"),
                    "evidence": block.get("evidence"),
                    "error": errors.get(name),
                    "figures": {k: block.get(k) for k in FIGURES[family]},
                }
            ),
            file=sys.stderr,
            flush=True,
        )
    flagged = {n: b.get("finding") for n, b in blocks.items() if not clean(family, b)}
    return {
        "family": family,
        "form": form,
        "storms": len(blocks),
        "errors": errors,
        "false_positives": flagged,
        "findings": {n: b.get("finding") for n, b in blocks.items()},
        "evidence": sorted({str(b.get("evidence")) for b in blocks.values()}),
        "wall_s": round(time.monotonic() - started, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storms", type=int, default=10, help="storms of each fixed form")
    parser.add_argument("--family", choices=sorted(FORMS), action="append", help="only these")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    if not 1 <= args.storms <= 50:
        parser.error(f"--storms must be 1..50, got {args.storms}")
    results = []
    with tempfile.TemporaryDirectory(prefix="stampede-fp-") as tmp:
        for family in args.family or list(FORMS):
            users, forms = FORMS[family]
            for form, command in forms:
                out = Path(tmp) / family / form
                result = run_form(family, users, form, command, args.storms, out)
                results.append(result)
                if not args.json:
                    print(
                        f"{family:15} {form:24} storms {result['storms']:3}  false positives "
                        f"{len(result['false_positives'])}  errors {len(result['errors'])}  "
                        f"{result['wall_s']} s",
                        flush=True,
                    )
    if args.json:
        print(json.dumps(results, indent=2))
    return 1 if any(r["false_positives"] for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
