"""`stampede bench server` on the command line: check the values, run, print a table or JSON."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from stampede.loadtest import flags
from stampede.loadtest.commands.bench.loadgen import pick
from stampede.loadtest.commands.bench.server import ServerBenchOptions, run_server_bench
from stampede.loadtest.commands.bench.waiters_cli import parse_waiters
from stampede.loadtest.errors import UsageError
from stampede.loadtest.process.startup import add_wait_flag, exclusive_run, wait_from

GENERATORS = ("auto", "wrk", "python")


def options_from(args: argparse.Namespace) -> ServerBenchOptions:
    return ServerBenchOptions(
        waiters=tuple(args.waiters),
        connections=args.connections,
        duration_s=args.duration,
        rounds=args.rounds,
        probe=not args.no_probe,
    )


def render(result: dict[str, Any]) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=140)  # not 80: keep the contender names whole in a log
    table = Table(title="Invocation path: rps and latency, ratio to the baseline, same run")
    headers = ("contender", "rps", "vs", "ratio", "p50 ms", "p90 ms", "p99 ms", "errors")
    for header in (*headers, "CPU us/req", "CPU ratio"):
        table.add_column(header, justify="right")
    for row in result["rows"]:
        ratio, cpu_ratio = row["ratio"], row["cpu_ratio"]
        table.add_row(
            escape(row["name"]),
            f"{row['rps']:,.0f}",
            row["baseline"] or "-",
            "-" if ratio is None else f"{ratio:.0%}",
            f"{row['p50_ms']:.2f}",
            f"{row['p90_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            str(row["errors"] + row["non_2xx"]),
            f"{row['cpu_us_per_request']:.0f}",
            "-" if cpu_ratio is None else f"{cpu_ratio:.0%}",
        )
    console.print(table)
    for endpoint, share in result["probe_overhead"].items():
        cpu = result["probe_overhead_cpu"].get(endpoint)
        by_cpu = "" if cpu is None else f" ({cpu:.1%} by CPU per request)"
        console.print(f"probe overhead on {endpoint}: {share:.1%} of rps{by_cpu}")
    console.print(
        "ratio: median of the per-round rps ratios; CPU ratio: the baseline's server CPU per "
        "request over this one's (the rps ratio if CPU were the only limit, steadier on a "
        "shared machine)"
    )
    s, m = result["settings"], result["machine"]
    console.print(
        f"load generator: {result['generator']}; {s['connections']} connections, "
        f"{s['rounds']} rounds of {s['duration_s']:g} s, medians shown; load average "
        f"{m['loadavg_before'][0]} before, {m['loadavg_after'][0]} after ({m['cpus']} CPUs)"
    )


def cmd_server(args: argparse.Namespace) -> int:
    options = options_from(args)
    try:
        generator = pick(args.generator)
    except FileNotFoundError as exc:
        raise UsageError(f"--generator {args.generator!r}: {exc}") from None
    wait_s = wait_from(args)
    progress = (lambda line: None) if args.json else (lambda line: print(line, file=sys.stderr))
    with exclusive_run("bench", wait_s):  # a second run on the same cores skews the figures
        # Created under the lock: a refused run leaves nothing behind.
        logs = Path(args.logs) if args.logs else Path(tempfile.mkdtemp(prefix="stampede-bench-"))
        logs.mkdir(parents=True, exist_ok=True)
        result = run_server_bench(options, generator, logs, progress)
    result["logs"] = str(logs)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        render(result)
    return 0


def register(which: Any) -> None:
    d = ServerBenchOptions()
    p = which.add_parser("server", help="built-in server vs a bare FastAPI endpoint, same run")
    p.add_argument(
        "--waiters", type=parse_waiters, default=",".join(d.waiters), help="server variants to run"
    )
    p.add_argument(
        "--connections", type=flags.integer(1, 1000), default=d.connections,
        help="keep-alive connections",
    )  # fmt: skip
    p.add_argument(
        "--duration", type=flags.duration(600, low=1, open_low=False), default=d.duration_s,
        help="seconds per round per server",
    )  # fmt: skip
    p.add_argument(
        "--rounds", type=flags.integer(1, 50), default=d.rounds,
        help="rounds of A B C ...; medians shown",
    )  # fmt: skip
    p.add_argument("--generator", choices=GENERATORS, default="auto",
                   help="auto: wrk when installed, else the Python generator")  # fmt: skip
    p.add_argument("--no-probe", action="store_true", help="skip the probe's overhead")
    p.add_argument("--logs", default=None, help="directory for the servers' logs")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    add_wait_flag(p)
    p.set_defaults(func=cmd_server)
