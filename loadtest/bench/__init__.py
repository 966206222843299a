"""`stampede bench`: benchmarks that print figures, never pass/fail.

Each bench measures its baseline in the same run and quotes its results as ratios to it, so
figures taken on a busy, shared machine still compare: `waiters` against the asyncio floor,
`server` against a bare FastAPI endpoint doing the same work.
"""

from __future__ import annotations

from typing import Any

from stampede.loadtest.bench import server_cli, waiters_cli
from stampede.loadtest.bench.waiters import measure_waiters

__all__ = ["measure_waiters", "register"]


def register(sub: Any) -> None:
    bench = sub.add_parser("bench", help="benchmarks (figures as ratios, not pass/fail)")
    which = bench.add_subparsers(dest="bench", required=True, metavar="BENCH")
    waiters_cli.register(which)
    server_cli.register(which)
