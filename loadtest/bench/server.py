"""`stampede bench server`: the built-in server against a bare FastAPI endpoint, same run.

Every contender is a real server process on loopback, started once and kept running; the same
load generator then drives them in turn, round after round (A B C A B C ...), so a busy moment
on a shared machine lands on all of them alike. Each figure is the median over the rounds and
each contender is quoted as a ratio to its baseline:

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

from stampede.loadtest.bench.bare_app import PROBE_ENV
from stampede.loadtest.bench.loadgen import Generator, Load, LoadResult
from stampede.loadtest.launcher import CommandTarget, Handle, launch, stampede_target
from stampede.loadtest.stats import percentile
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
        "stampede.loadtest.bench.bare_app:create_app",
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
) -> dict[str, Any]:
    """Start every contender, drive them round-robin, stop them; the figures as a dict."""
    entries = contenders(options)
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
        for round_no in range(1, options.rounds + 1):
            for entry in entries:
                result = generator.run(load_of(entry, options.duration_s))
                figures[entry.name].rounds.append(result)
                progress(f"round {round_no}/{options.rounds} {entry.name}: {result.rps:,.0f} rps")
    rows = [f.summary() for f in figures.values()]
    by_name = {row["name"]: row for row in rows}
    for row in rows:
        base = by_name.get(row["baseline"] or "")
        row["ratio"] = row["rps"] / base["rps"] if base and base["rps"] else None
    return {
        "generator": generator.describe(),
        "settings": asdict(options),
        "rows": rows,
        "probe_overhead": probe_overhead(by_name),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "wall_s": round(time.monotonic() - started, 1),
    }


def probe_overhead(by_name: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The share of rps the probe costs: 1 - probed / unprobed, per endpoint."""
    out = {}
    pairs = (("hello", "hello", "hello+probe"), ("invoke", "bare", "bare+probe"))
    for endpoint, plain, probed in pairs:
        if plain in by_name and probed in by_name and by_name[plain]["rps"]:
            out[endpoint] = 1 - by_name[probed]["rps"] / by_name[plain]["rps"]
    return out
