"""Zero false positives: healthy and fixed example apps, stormed again and again, never come out
wedged, failing or leaking; and a healthy app reads the same probed and unprobed.

Each round runs `stampede compare` on pairs of command targets (two per run, so every variant
keeps its share of the run's budget on a busy machine), with short storms, and tallies each
example's state (loadtest/verdict/state.py). Exit code 1 if any storm of any example came out
wedged, failing or leaking, or if a probed/unprobed pair disagreed in a round.

    .venv/bin/python benchmarks/verdict_false_positives.py              # 2 rounds, ~6 min
    .venv/bin/python benchmarks/verdict_false_positives.py --rounds 3 --json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BAD = ("wedged", "failing", "leaking")
PAIRS = [
    {"busy": "examples.busy_model:app", "late_fixed": "examples.late_body:fixed_app"},
    {
        "shared_fixed": "examples.shared_agent:fixed_app",
        "serial_fixed": "examples.serial_broker:fixed_app",
    },
    {
        "sync_fixed": "examples.sync_cache:fixed_app",
        "loop2_fixed": "examples.worker_loop:fixed_app",
    },
    {
        "healthy": "examples.slow_upstream:healthy_app",
        "healthy_probed": "--factory examples.slow_upstream:healthy_probed_app",
    },
]
SAME_STATE = ("healthy", "healthy_probed")
STORM = ["--duration", "3", "--users", "4", "--stall-seconds", "2", "--grace", "1"]


def storm(targets: dict[str, str], out: Path) -> dict[str, str]:
    argv = [sys.executable, "-m", "stampede", "compare", *STORM, "--out", str(out)]
    argv += ["--no-progress", "--wait", "600", "--client-timeout", "2.5"]
    for name, app in targets.items():
        argv += ["--target", f"{name}=uvicorn {app} --port {{port}}"]
    subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=700, check=False)
    summary = json.loads((out / "latest" / "summary.json").read_text())
    return {
        name: (v.get("state") or {}).get("state", "not run")
        for name, v in summary["variants"].items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tally: dict[str, Counter[str]] = {}
    disagreements = compared = 0
    with tempfile.TemporaryDirectory(prefix="stampede-fp-") as tmp:
        for round_no in range(args.rounds):
            for i, pair in enumerate(PAIRS):
                states = storm(pair, Path(tmp) / f"r{round_no}-p{i}")
                for name, state in states.items():
                    tally.setdefault(name, Counter())[state] += 1
                pair_states = [states.get(name) for name in SAME_STATE]
                # Only rounds where both got going: "unknown"/"not run" is no state to compare.
                if all(s not in (None, "unknown", "not run") for s in pair_states):
                    compared += 1
                    disagreements += pair_states[0] != pair_states[1]
                print(f"round {round_no + 1}: {states}", flush=True)
    bad = {name: {s: n for s, n in c.items() if s in BAD} for name, c in tally.items()}
    bad = {name: c for name, c in bad.items() if c}
    storms = sum(sum(c.values()) for c in tally.values())
    result = {
        "storms": storms,
        "states": {name: dict(c) for name, c in tally.items()},
        "false_positives": bad,
        "probed_unprobed_compared": compared,
        "probed_unprobed_disagreements": disagreements,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for name, c in sorted(tally.items()):
            print(f"{name:16} {dict(c)}")
        print(f"{storms} storms; false positives: {bad or 'none'}; ", end="")
        print(f"probed/unprobed disagreements: {disagreements} of {compared}")
    return 1 if bad or disagreements else 0


if __name__ == "__main__":
    raise SystemExit(main())
