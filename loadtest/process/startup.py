"""What every measuring command (compare, plan, bench) does before it measures anything: clear
what dead harnesses left behind (their processes, found by owner mark, and their cgroups,
killing whatever still runs inside first), then take the run lock (one run at a time)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from stampede.loadtest import flags
from stampede.loadtest.process.caps import sweep_stale
from stampede.loadtest.process.cgroups import PARENT_NAME
from stampede.loadtest.process.lifeline import sweep_orphans
from stampede.loadtest.process.runlock import run_lock

MAX_WAIT_S = 24 * 3600.0


def add_wait_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        metavar="SECONDS",
        type=flags.duration(MAX_WAIT_S, open_low=False),
        default=0.0,
        help="if another run holds the run lock, wait up to this long (default: refuse at once)",
    )


def wait_from(args: argparse.Namespace) -> float:
    return float(getattr(args, "wait", 0.0) or 0.0)


def sweep_leftovers() -> tuple[list[int], list[str]]:
    """Kill dead harnesses' processes, then remove their cgroups; (pids, cgroup paths)."""
    return sweep_orphans(), sweep_stale()


@contextlib.contextmanager
def exclusive_run(command: str, wait_s: float = 0.0) -> Iterator[None]:
    """The run lock for the block, and a clean slate from dead harnesses before it starts."""

    def say(message: str) -> None:
        print(f"stampede {command}: {message}", file=sys.stderr, flush=True)

    pids, removed = sweep_leftovers()  # only dead owners' leftovers: safe before the lock
    groups = [path for path in removed if Path(path).name != PARENT_NAME]
    if pids or groups:
        say(f"removed what dead runs left: {len(pids)} process(es), {len(groups)} cgroup(s)")
    with run_lock(command, wait_s, say):
        yield
