"""`stampede bench waiters` on the command line: check the values, run, print a table or JSON."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table
from stampede.loadtest.bench.waiters import DEFAULT_SIZES, run_bench
from stampede.loadtest.errors import UsageError
from stampede.loadtest.startup import add_wait_flag, exclusive_run, wait_from
from stampede.server.waiters import WAITERS

MAX_SIZE = 100_000
MAX_WORKERS = 1024  # threads; beyond this the bench measures the OS, not the waiter


def _sizes(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"--sizes {text!r}: expected comma-separated integers") from None
    if not values or any(v < 1 or v > MAX_SIZE for v in values):
        raise UsageError(f"--sizes {text!r}: each size must be between 1 and {MAX_SIZE}")
    return values


def _workers(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"--workers {text!r}: expected an integer") from None
    if not 2 <= value <= MAX_WORKERS:
        raise UsageError(f"--workers {text!r}: must be between 2 and {MAX_WORKERS}")
    return value


def parse_waiters(text: str) -> list[str]:
    names = list(dict.fromkeys(w.strip() for w in text.split(",") if w.strip()))
    for name in names:
        if name not in WAITERS:
            raise UsageError(
                f"--waiters {text!r}: unknown waiter {name!r} (choose from {','.join(WAITERS)})"
            )
    if not names:
        raise UsageError(f"--waiters {text!r}: name at least one waiter")
    return names


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
    console.print(table)
    console.print(
        "floor: N tasks awaiting one plain asyncio future, set_result to each resume. Each "
        "figure is the median of the run's repeats, measured interleaved."
    )


def cmd_waiters(args: argparse.Namespace) -> int:
    waiters, sizes, workers = (
        parse_waiters(args.waiters),
        _sizes(args.sizes),
        _workers(args.workers),
    )
    if not 1 <= args.repeat <= 50:
        raise UsageError(f"--repeat {args.repeat}: must be between 1 and 50")
    wait_s = wait_from(args)
    with exclusive_run("bench", wait_s):  # a second run on the same cores skews the figures
        result = run_bench(waiters, sizes, workers, repeat=args.repeat)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        render(result)
    return 0


def register(which: Any) -> None:
    p = which.add_parser("waiters", help="release latency of waiting duplicates vs the floor")
    p.add_argument("--waiters", default=",".join(WAITERS), help="comma list (default: all)")
    p.add_argument("--sizes", default=",".join(str(n) for n in DEFAULT_SIZES))
    p.add_argument("--workers", default=None, help=f"executor workers (2..{MAX_WORKERS})")
    p.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is shown")
    p.add_argument("--json", action="store_true", help='print {"floor": [...], "waiters": [...]}')
    add_wait_flag(p)
    p.set_defaults(func=cmd_waiters)
