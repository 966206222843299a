"""Soak: many `stampede compare` runs against a target that wedges, each of which must end within
its deadline + 30 s and leave nothing behind. Not part of the test suite; run it by hand:

    .venv/bin/python benchmarks/soak_compare.py                 # 20 runs, ~6 min on 2 cores
    .venv/bin/python benchmarks/soak_compare.py --runs 5 --json

The target is the to_thread waiter, which the storm wedges (every executor worker parked by a
waiting duplicate). Every `--freeze-every`-th run is harsher: at a seeded random moment the
server process is SIGSTOPped, a total deadlock (its /healthz and /metrics stop answering too),
and the harness must still end by its deadline, stop it (SIGKILL reaches a stopped process)
and remove its cgroups.

Per run it records the wall time from spawn to exit, the run's own deadline (summary.json's
deadline_s: duration x variants + 30 s), how each variant ended, and what was left behind
(descendant processes still alive, cgroups named after the harness). Exit code 0 when every run
ended within deadline + 30 s with nothing left behind.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from stampede.loadtest.process.caps import probe_cgroups
from stampede.loadtest.process.runlock import LOCK_ENV

ALLOWANCE_S = 30.0  # the bound: each run ends within its deadline + 30 s
POLL_S = 0.1


def leftover_cgroups(owner: int) -> list[str]:
    found = []
    for mount in set(probe_cgroups().mounts.values()):
        parent = mount / "stampede"
        if parent.is_dir():
            found += [str(p) for p in parent.iterdir() if f".{owner}." in p.name]
    return found


def alive(children: dict[int, float]) -> list[int]:
    left = []
    for pid, created in children.items():
        try:
            proc = psutil.Process(pid)
            if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.NoSuchProcess:
            pass
    return left


def one_run(index: int, args: argparse.Namespace, rng: random.Random, out: Path) -> dict:
    run_out = out / f"run-{index:02d}"
    freeze_at = None  # seconds after Locust appears, i.e. mid-storm
    if args.freeze_every and index % args.freeze_every == args.freeze_every - 1:
        freeze_at = round(rng.uniform(1.0, 2.0 + args.duration), 2)
    argv = [sys.executable, "-m", "stampede", "compare", "--variants", "to_thread",
            "--duration", f"{args.duration:g}", "--no-progress", "--out", str(run_out)]  # fmt: skip
    started = time.monotonic()
    log = (out / f"run-{index:02d}.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    harness = psutil.Process(proc.pid)
    children: dict[int, float] = {}
    frozen: list[int] = []
    storm_at: float | None = None
    while proc.poll() is None:
        try:
            kids = harness.children(recursive=True)
        except psutil.Error:
            kids = []
        for kid in kids:
            try:
                children.setdefault(kid.pid, kid.create_time())
                line = " ".join(kid.cmdline())
                if storm_at is None and "locust" in line:
                    storm_at = time.monotonic()
                due = storm_at is not None and time.monotonic() - storm_at >= (freeze_at or 0)
                if freeze_at is not None and not frozen and due and "stampede.server" in line:
                    kid.send_signal(signal.SIGSTOP)  # wedged so hard nothing answers
                    frozen.append(kid.pid)
            except psutil.Error:
                continue
        if time.monotonic() - started > 600:  # a hung harness: record it, then end it
            proc.kill()
        time.sleep(POLL_S)
    wall = time.monotonic() - started
    log.close()
    time.sleep(0.5)  # let the parent-death signal land, if it had to
    summary: dict[str, Any] = {}
    for path in run_out.glob("*/summary.json"):
        summary = json.loads(path.read_text())
    deadline = float(summary.get("deadline_s") or args.duration + ALLOWANCE_S)
    return {
        "run": index,
        "exit": proc.returncode,
        "wall_s": round(wall, 2),
        "deadline_s": deadline,
        "over_deadline_s": round(wall - deadline, 2),
        "within": wall <= deadline + ALLOWANCE_S,
        "froze_server_at_s": freeze_at if frozen else None,
        "complete": summary.get("complete"),
        "ended": {n: v.get("ended") for n, v in summary.get("variants", {}).items()},
        "wedged": {n: v.get("wedged") for n, v in summary.get("variants", {}).items()},
        "left_processes": alive(children),
        "left_cgroups": leftover_cgroups(proc.pid),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load per run")
    parser.add_argument("--freeze-every", type=int, default=2, help="SIGSTOP the server every Nth")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    out = args.out or Path(tempfile.mkdtemp(prefix="stampede-soak-"))
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault(LOCK_ENV, str(out / "run.lock"))  # its own lock: serial by design
    print(f"soak: {args.runs} runs, seed {seed}, results in {out}", file=sys.stderr)
    rows = []
    for index in range(args.runs):
        row = one_run(index, args, rng, out)
        rows.append(row)
        print(
            f"run {index:2d}: exit {row['exit']}, {row['wall_s']:6.2f} s (deadline "
            f"{row['deadline_s']:g} s, {row['over_deadline_s']:+.2f}), froze "
            f"{row['froze_server_at_s']}, ended {row['ended']}, left "
            f"{len(row['left_processes'])} proc / {len(row['left_cgroups'])} cgroups",
            file=sys.stderr,
        )
    walls = [r["wall_s"] for r in rows]
    figures = {
        "seed": seed,
        "runs": len(rows),
        "within_deadline_plus_30s": sum(r["within"] for r in rows),
        "wall_s": {"min": min(walls), "median": statistics.median(walls), "max": max(walls)},
        "max_over_deadline_s": max(r["over_deadline_s"] for r in rows),
        "frozen_runs": sum(r["froze_server_at_s"] is not None for r in rows),
        "wedged_runs": sum(any(r["wedged"].values()) for r in rows),
        "left_processes": sum(len(r["left_processes"]) for r in rows),
        "left_cgroups": sum(len(r["left_cgroups"]) for r in rows),
        "incomplete_summaries": sum(r["complete"] is not True for r in rows),
    }
    print(json.dumps({"figures": figures, "runs": rows} if args.json else figures, indent=2))
    ok = figures["within_deadline_plus_30s"] == len(rows)
    return 0 if ok and not figures["left_processes"] and not figures["left_cgroups"] else 1


if __name__ == "__main__":
    sys.exit(main())
