"""`stampede bench server`: the built-in server against a bare FastAPI endpoint, same run.

Every contender is a real server process on loopback, started once and kept running; the same
load generator then drives them in turn, round after round (A B C A B C ...), so a busy moment
on a shared machine lands on all of them alike. Each figure is the median over the rounds, and
each contender is quoted as a ratio to its baseline: the median of the per-round ratios, each
taken between two runs seconds apart.

- `server[<waiter>]`: `stampede serve --model-latency-ms 0 --model-cycles 2`, per waiter, against
  `bare`: the same request, two `asyncio.to_thread` calls of a zero-latency model, the same
  answer shape (bare_app.py);
- `bare+probe` against `bare`, and `hello+probe` against `hello` (GET /hello on the bare app):
  what `stampede.probe.install(app)` costs a server that is not Stampede's.

Every request goes to a fresh agent id, so the built-in server serves primaries only: this is
the invocation path's overhead, not a storm.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
from stampede.loadtest.commands.bench.bare_app import PROBE_ENV
from stampede.loadtest.commands.bench.loadgen import Generator, Load, LoadResult
from stampede.loadtest.process.launcher import CommandTarget, Handle, launch, stampede_target
from stampede.loadtest.verdict.stats import percentile
from stampede.server.settings import ServerSettings

INVOKE_PATH = "/v1/agents/bench-{n}/invocations"
INVOKE_BODY = json.dumps({"prompt": "What is the weather in Lisbon?"})


@dataclass(frozen=True)
class Contender:
    name: str
    target: CommandTarget
    path: str
    method: str = "POST"
    body: str = INVOKE_BODY
    baseline: str | None = None  # the contender its ratio is taken against


@dataclass
class Figures:
    name: str
    baseline: str | None
    rounds: list[LoadResult] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # server CPU per answered request, by round

    def summary(self) -> dict[str, Any]:
        def median(key: str) -> float:
            return percentile([getattr(r, key) for r in self.rounds], 50)

        return {
            "name": self.name,
            "baseline": self.baseline,
            "rps": median("rps"),
            "rps_rounds": [round(r.rps, 1) for r in self.rounds],
            "p50_ms": median("p50_ms"),
            "p90_ms": median("p90_ms"),
            "p99_ms": median("p99_ms"),
            "requests": sum(r.requests for r in self.rounds),
            "errors": sum(r.errors for r in self.rounds),
            "non_2xx": sum(r.non_2xx for r in self.rounds),
            "cpu_us_per_request": percentile(self.cpu_us, 50) if self.cpu_us else None,
        }


@dataclass(frozen=True)
class ServerBenchOptions:
    waiters: tuple[str, ...] = ("to_thread", "future", "batched")
    connections: int = 16
    duration_s: float = 5.0
    rounds: int = 3
    probe: bool = True
    warmup_s: float = 1.0  # per contender, before the first round; not measured


def bare_target(*, probe: bool) -> CommandTarget:
    argv = (
        sys.executable, "-m", "uvicorn", "--factory",
        "stampede.loadtest.commands.bench.bare_app:create_app",
        "--host", "{host}", "--port", "{port}", "--no-access-log", "--log-level", "warning",
    )  # fmt: skip
    name = "bare-probe" if probe else "bare"
    return CommandTarget(argv, name=name, env={PROBE_ENV: "1" if probe else "0"})


def contenders(options: ServerBenchOptions) -> list[Contender]:
    bare = bare_target(probe=False)
    out = [Contender("bare", bare, INVOKE_PATH)]
    for waiter in options.waiters:
        settings = ServerSettings.explicit(waiter=waiter, model_latency_ms=0, model_cycles=2)
        target = stampede_target(settings, name=f"server-{waiter}")
        out.append(Contender(f"server[{waiter}]", target, INVOKE_PATH, baseline="bare"))
    if options.probe:
        probed = bare_target(probe=True)
        out += [
            Contender("bare+probe", probed, INVOKE_PATH, baseline="bare"),
            Contender("hello", bare, "/hello", method="GET", body=""),
            Contender("hello+probe", probed, "/hello", method="GET", body="", baseline="hello"),
        ]
    return out


def run_server_bench(
    options: ServerBenchOptions,
    generator: Generator,
    log_dir: Path,
    progress: Callable[[str], None] = lambda _line: None,
    entries: list[Contender] | None = None,
) -> dict[str, Any]:
    """Start every contender (default: `contenders(options)`), drive them round-robin, stop
    them; the figures as a dict."""
    entries = entries if entries is not None else contenders(options)
    load_before = os.getloadavg()
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        handles: dict[str, Handle] = {}
        for entry in entries:
            key = entry.target.name
            if key not in handles:
                progress(f"starting {key}")
                handle = launch(entry.target, log_path=log_dir / f"{key}.log")
                stack.callback(handle.stop)
                handles[key] = handle

        def load_of(entry: Contender, seconds: float) -> Load:
            return Load(
                url=handles[entry.target.name].base_url,
                path=entry.path,
                method=entry.method,
                body=entry.body,
                connections=options.connections,
                duration_s=seconds,
            )

        for entry in entries if options.warmup_s > 0 else ():
            progress(f"warming up {entry.name}")
            generator.run(load_of(entry, options.warmup_s))
        figures = {e.name: Figures(e.name, e.baseline) for e in entries}
        processes = {key: psutil.Process(handle.pid) for key, handle in handles.items()}
        for round_no in range(1, options.rounds + 1):
            for entry in entries:
                process = processes[entry.target.name]
                cpu_before = _cpu_s(process)
                result = generator.run(load_of(entry, options.duration_s))
                cpu = _cpu_s(process) - cpu_before
                figures[entry.name].rounds.append(result)
                figures[entry.name].cpu_us.append(cpu * 1e6 / max(1, result.requests))
                progress(f"round {round_no}/{options.rounds} {entry.name}: {result.rps:,.0f} rps")
    rows = [f.summary() for f in figures.values()]
    by_name = {row["name"]: row for row in rows}
    for row in rows:
        base = figures.get(row["baseline"] or "")
        # Each round's ratio pairs two runs seconds apart, so a slow drift in the machine's
        # load cancels out; the median of those is the figure.
        rounds = figures[row["name"]].rounds
        pairs = [] if base is None else list(zip(rounds, base.rounds, strict=True))
        ratios = [a.rps / b.rps for a, b in pairs if b.rps]
        row["ratio_rounds"] = [round(r, 3) for r in ratios]
        row["ratio"] = percentile(ratios, 50) if ratios else None
        # The same comparison by the server's own CPU per request: what the rps ratio would be
        # if CPU were the only limit. It moves far less than rps when neighbours take the CPU.
        cpu = [] if base is None else zip(figures[row["name"]].cpu_us, base.cpu_us, strict=True)
        cpu_ratios = [b / a for a, b in cpu if a]
        row["cpu_ratio"] = percentile(cpu_ratios, 50) if cpu_ratios else None
    return {
        "generator": generator.describe(),
        "settings": asdict(options),
        "rows": rows,
        "probe_overhead": probe_overhead(by_name),
        "probe_overhead_cpu": probe_overhead(by_name, "cpu_ratio"),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "wall_s": round(time.monotonic() - started, 1),
    }


def _cpu_s(process: psutil.Process) -> float:
    """User + system CPU seconds of the process, all its threads."""
    times = process.cpu_times()
    return times.user + times.system


def probe_overhead(by_name: dict[str, dict[str, Any]], key: str = "ratio") -> dict[str, float]:
    """The share the probe costs, per endpoint: 1 - its ratio (`key`) to the unprobed one."""
    out = {}
    for endpoint, probed in (("hello", "hello+probe"), ("invoke", "bare+probe")):
        ratio = by_name.get(probed, {}).get(key)
        if ratio is not None:
            out[endpoint] = 1 - ratio
    return out
