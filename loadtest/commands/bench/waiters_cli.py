"""`stampede bench waiters` on the command line: check the values, run, print a table or JSON."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table
from stampede.loadtest import flags
from stampede.loadtest.commands.bench.waiters import DEFAULT_SIZES, run_bench
from stampede.loadtest.process.startup import add_wait_flag, exclusive_run, wait_from
from stampede.server.waiters import WAITERS

MAX_SIZE = 100_000
MAX_WORKERS = 1024  # threads; beyond this the bench measures the OS, not the waiter


# Each flag's converter (loadtest/flags.py) checks its value; a waiter name is checked by the
# server's own settings, so the bench knows every waiter the server does.
parse_waiters = flags.comma_list(flags.setting("waiter"), drop_repeats=True)


def render(result: dict[str, list[dict[str, Any]]]) -> None:
    table = Table(title="Waiting duplicates: cost and release latency against the asyncio floor")
    headers = ("waiter", "N", "threads+", "RSS/dup", "p50 ms", "p99 ms", "max ms", "p99/floor")
    for header in headers:
        table.add_column(header, justify="right")
    floors = {row["duplicates"]: row for row in result["floor"]}
    for n, floor in floors.items():
        table.add_row(
            "floor",
            f"{n:,}",
            "-",
            "-",
            f"{floor['release_p50_ms']:.2f}",
            f"{floor['release_p99_ms']:.2f}",
            f"{floor['release_max_ms']:.2f}",
            "1.00x",
        )
        for row in (r for r in result["waiters"] if r["duplicates"] == n):
            table.add_row(
                str(row["waiter"]),
                f"{n:,}",
                str(row["threads_added"]),
                f"{row['rss_per_waiter_bytes'] / 1024:.1f}K",
                f"{row['release_p50_ms']:.2f}",
                f"{row['release_p99_ms']:.2f}",
                f"{row['release_max_ms']:.2f}",
                f"{row['p99_vs_floor']:.2f}x",
            )
        table.add_section()
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)  # not 80: keep the columns whole in a log
    console.print(table)
    console.print(
        "floor: N tasks awaiting one plain asyncio future, set_result to each resume. Each "
        "figure is the median of the run's repeats, measured interleaved."
    )


def cmd_waiters(args: argparse.Namespace) -> int:
    wait_s = wait_from(args)
    with exclusive_run("bench", wait_s):  # a second run on the same cores skews the figures
        result = run_bench(list(args.waiters), list(args.sizes), args.workers, repeat=args.repeat)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        render(result)
    return 0


def register(which: Any) -> None:
    p = which.add_parser("waiters", help="release latency of waiting duplicates vs the floor")
    p.add_argument(
        "--waiters", type=parse_waiters, default=",".join(WAITERS), help="comma list (default: all)"
    )
    p.add_argument(
        "--sizes",
        type=flags.comma_list(flags.integer(1, MAX_SIZE)),
        default=",".join(str(n) for n in DEFAULT_SIZES),
    )
    p.add_argument(
        "--workers",
        type=flags.integer(2, MAX_WORKERS),
        default=None,
        help=f"executor workers (2..{MAX_WORKERS})",
    )
    p.add_argument(
        "--repeat", type=flags.integer(1, 50), default=3,
        help="runs per figure; the median is shown",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help='print {"floor": [...], "waiters": [...]}')
    add_wait_flag(p)
    p.set_defaults(func=cmd_waiters)
