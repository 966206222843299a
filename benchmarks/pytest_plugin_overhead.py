"""What `pytest --stampede` costs this project's own suite: off against on, in the same run.

Each round runs the same test folders through pytest twice, in a subprocess each, once plain
and once with `--stampede`, in alternating order (so that a burst of load from elsewhere on the
machine falls on both sides alike). Reported: the median wall time of each side and their
ratio, and the same for CPU time (the pytest process and its children: the suite starts
servers and storms), which the machine's other work disturbs less.

    .venv/bin/python benchmarks/pytest_plugin_overhead.py            # 1 round, the subset
    .venv/bin/python benchmarks/pytest_plugin_overhead.py --rounds 3 --json
    .venv/bin/python benchmarks/pytest_plugin_overhead.py tests/probe
    .venv/bin/python benchmarks/pytest_plugin_overhead.py --workers 3 -m '' tests   # all, as CI

The default subset (tests/server tests/probe tests/loadtest/verdict, not the slow storms) is a
representative slice, in-process asyncio tests and real server processes alike; the whole
suite takes about 10 minutes a side on a 2-core machine that other engineers share.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUBSET = ["tests/server", "tests/probe", "tests/loadtest/verdict"]


def one_run(
    folders: list[str], stampede: bool, keep: Path | None = None, workers: int = 0, marks: str = ""
) -> dict[str, object]:
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    argv += ["-m", marks] if marks else []
    argv += ["-n", str(workers), "--dist", "loadfile"] if workers else []
    argv += [*folders, "--stampede" if stampede else "--no-stampede"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=os.environ.copy())
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        name = f"{'on' if stampede else 'off'}-{time.strftime('%H%M%S')}.txt"
        (keep / name).write_text(proc.stdout + proc.stderr)
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-200:]
    counts = dict((kind, int(n)) for n, kind in re.findall(r"(\d+) (passed|failed|errors?)", tail))
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "outcome": counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", default=SUBSET)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", type=Path, help="save each run's output in this folder")
    parser.add_argument(
        "--workers", type=int, default=0, help="pytest-xdist workers (make test: 3)"
    )
    parser.add_argument("-m", dest="marks", default="not slow", help="pytest -m ('' for all)")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, object]]] = {"off": [], "on": []}
    for index in range(args.rounds):
        order = ["off", "on"] if index % 2 == 0 else ["on", "off"]
        for side in order:
            run = one_run(args.folders, side == "on", args.keep, args.workers, args.marks)
            runs[side].append(run)
            print(f"round {index + 1} {side}: {runs[side][-1]}", file=sys.stderr)
    result: dict[str, object] = {"folders": args.folders, "rounds": args.rounds, "runs": runs}
    for key in ("wall_s", "cpu_s"):
        off = statistics.median(float(r[key]) for r in runs["off"])  # type: ignore[arg-type]
        on = statistics.median(float(r[key]) for r in runs["on"])  # type: ignore[arg-type]
        result[key] = {"off": off, "on": on, "ratio": round(on / off, 3)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for key in ("wall_s", "cpu_s"):
        figures = result[key]
        assert isinstance(figures, dict)
        print(f"{key}: off {figures['off']:.1f}, on {figures['on']:.1f}, ratio {figures['ratio']}")


if __name__ == "__main__":
    main()
