"""False positives of the loop-block, spin and state-leak detectors: many short storms of every
fixed form, each one must come out clean.

Each round storms, per family, Stampede's fixed implementation (`compare --scenario NAME
--variants FIX`) and the example app's fixed form as the user's own server, black-box and
probed (`--target`). Every finding is read from summary.json; the script prints one line per
storm and, at the end, per form: storms, clean, flagged, inconclusive, and the range of the
figure the detector decided on. Exit code 1 if any fixed form was flagged.

    .venv/bin/python benchmarks/false_positives.py --rounds 10            # ~15-25 min
    .venv/bin/python benchmarks/false_positives.py --rounds 2 --families spin

Every storm is a real `stampede compare` (capped servers, real Locust, loopback only), bounded
by compare's own budget; the script adds nothing else to the machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FAMILIES: dict[str, dict[str, Any]] = {
    "loop_block": {"fix": "to_thread", "module": "sync_tool", "factory": "sync_tool_fixed"},
    "spin": {"fix": "owner_task", "module": "deadline_tools", "factory": "deadline_tools_fixed"},
    "state_leak": {
        "fix": "reaped",
        "module": "session_store",
        "factory": "session_store_fixed",
    },
}


def figure(family: str, f: dict[str, Any]) -> float | None:
    """The number the detector decided on."""
    if family == "loop_block":
        lag = f.get("lag") or {}
        return lag.get("blocked_share") if f.get("evidence") == "exact" else f["ping"]["p50_ms"]
    if family == "spin":
        return f.get("share")
    held = f.get("held_per_1000") or {}
    return held.get("event_loop_tasks", held.get("rss_bytes"))


def compare(args: argparse.Namespace, family: str, out: Path, extra: list[str]) -> dict[str, Any]:
    argv = [sys.executable, "-m", "stampede", "compare", "--scenario", family]
    argv += ["--duration", str(args.duration), "--users", str(args.users), "--out", str(out)]
    argv += ["--no-progress", "--wait", "600", *extra]
    subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    summary = json.loads((out / "latest" / "summary.json").read_text())
    return summary["variants"]


def storms(args: argparse.Namespace, family: str, out: Path) -> dict[str, dict[str, Any]]:
    spec = FAMILIES[family]
    builtin = compare(args, family, out / "builtin", ["--variants", spec["fix"]])
    # One target per run: a target's start-up can take 10 s on a busy machine.
    plain = f"example=uvicorn examples.{spec['module']}:fixed_app --port {{port}}"
    factory = f"examples.probed_runtime:{spec['factory']}"
    probed = f"example_probed=uvicorn --factory {factory} --port {{port}}"
    example = compare(args, family, out / "example", ["--target", plain])
    example_probed = compare(args, family, out / "probed", ["--target", probed])
    return {f"builtin {spec['fix']}": builtin[spec["fix"]], **example, **example_probed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--duration", type=float, default=3)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--json", action="store_true", help="print the tally as JSON")
    args = parser.parse_args()
    families = [f for f in args.families.split(",") if f]
    bad = [f for f in families if f not in FAMILIES]
    if bad or not 1 <= args.rounds <= 100:
        parser.error(f"--families: unknown {bad}" if bad else "--rounds must be 1..100")
    tally: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(list))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="stampede-fp-") as tmp:
        for round_ in range(args.rounds):
            for family in families:
                found = storms(args, family, Path(tmp) / f"{family}-{round_}")
                for form, v in found.items():
                    f = v.get(family) or {"finding": "inconclusive", "reason": v.get("error")}
                    key = f"{family}: {form}"
                    tally[key][f["finding"]].append(
                        figure(family, f) if f.get("evidence") else None
                    )
                    tally[key]["evidence"].append(f.get("evidence"))
                    print(f"round {round_ + 1} {key}: {f['finding']} ({f.get('evidence')}) "
                          f"{f.get('reason')}", flush=True)  # fmt: skip
    flagged = 0
    report = {}
    for key, by in sorted(tally.items()):
        clean = [x for x in by.get("clean", []) if x is not None]
        bad_n = sum(len(v) for k, v in by.items() if k not in ("clean", "inconclusive", "evidence"))
        flagged += bad_n
        report[key] = {
            "storms": len(by["evidence"]),
            "clean": len(by.get("clean", [])),
            "flagged": bad_n,
            "inconclusive": len(by.get("inconclusive", [])),
            "clean_figure_range": [min(clean), max(clean)] if clean else None,
            "evidence": sorted({e for e in by["evidence"] if e}),
        }
    report["wall_s"] = round(time.monotonic() - started, 1)  # type: ignore[assignment]
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, r in report.items():
            print(f"{key}: {r}")
    return 1 if flagged else 0


if __name__ == "__main__":
    raise SystemExit(main())
