"""HTTP load generators for `stampede bench server`: wrk when it is installed, else Python.

Both drive a fixed number of keep-alive connections at one loopback URL for a fixed time, each
request a POST of the same JSON body to a fresh agent id (`{n}` in the path), and return the
same figures: requests, errors, non-2xx answers, requests per second and latency percentiles.

- `Wrk` runs Debian's wrk with a Lua script that makes the paths and prints the figures as one
  JSON line from wrk's `done()` hook. wrk is written in C: it leaves the CPU to the server.
- `PythonLoad` is the fallback: asyncio streams speaking minimal HTTP/1.1 (fixed request bytes,
  Content-Length bodies), in a subprocess of its own so it never shares a GIL with the harness.
  It needs more CPU per request than wrk, so its figures are only comparable within a run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from stampede.loadtest.verdict.stats import percentile

try:  # the fastest loop there is, so the fallback generator is not the bottleneck
    import uvloop
except ImportError:  # pragma: no cover - uvicorn[standard] brings it
    uvloop = None

PROCESS_SLACK_S = 15.0  # beyond the run's duration before a generator process is killed


@dataclass(frozen=True)
class Load:
    """What to send: `path` may hold `{n}`, replaced by a per-request number."""

    url: str  # base URL, loopback
    path: str
    method: str = "POST"
    body: str = ""
    connections: int = 16
    duration_s: float = 5.0


@dataclass(frozen=True)
class LoadResult:
    requests: int  # answered requests, any status
    errors: int  # connect, read, write errors and timeouts
    non_2xx: int
    duration_s: float
    rps: float  # answered 2xx requests per second
    p50_ms: float
    p90_ms: float
    p99_ms: float


class Generator(Protocol):
    name: str

    def describe(self) -> str: ...

    def run(self, load: Load) -> LoadResult: ...


WRK_SCRIPT = """
counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  thread_id = id
end

function request()
  counter = counter + 1
  local path = string.gsub(PATH, "{n}", thread_id .. "-" .. counter)
  return wrk.format(METHOD, path, HEADERS, BODY)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "errors": %d, "non_2xx": %d, "duration_us": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d}\\n',
    summary.requests, e.connect + e.read + e.write + e.timeout, e.status,
    summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for our ASCII


@dataclass(frozen=True)
class Wrk:
    path: str
    name: str = "wrk"

    def describe(self) -> str:
        result = subprocess.run([self.path, "-v"], capture_output=True, text=True, timeout=10)
        words = (result.stdout or result.stderr).split()
        version = words[1] if len(words) > 1 and words[0] == "wrk" else "unknown version"
        return f"wrk {version} ({self.path})"

    def run(self, load: Load) -> LoadResult:
        headers = "{}" if not load.body else '{["Content-Type"] = "application/json"}'
        script = (
            f"PATH = {_lua_string(load.path)}\nMETHOD = {_lua_string(load.method)}\n"
            f"BODY = {_lua_string(load.body) if load.body else 'nil'}\nHEADERS = {headers}\n"
            + WRK_SCRIPT
        )
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
            handle.write(script)
        try:
            argv = [
                self.path,
                "-t1",  # one thread: wrk is fast enough, and leaves the other core to the server
                f"-c{load.connections}",
                f"-d{max(1, round(load.duration_s))}s",
                "--timeout",
                "5s",
                "-s",
                handle.name,
                load.url,
            ]
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=load.duration_s + PROCESS_SLACK_S,
            )
        finally:
            Path(handle.name).unlink(missing_ok=True)
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith('{"requests"')), None)
        if done.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-300:]}")
        raw = json.loads(line)
        seconds = raw["duration_us"] / 1e6
        ok = raw["requests"] - raw["non_2xx"]
        return LoadResult(
            requests=raw["requests"],
            errors=raw["errors"],
            non_2xx=raw["non_2xx"],
            duration_s=seconds,
            rps=ok / seconds if seconds else 0.0,
            p50_ms=raw["p50_us"] / 1000,
            p90_ms=raw["p90_us"] / 1000,
            p99_ms=raw["p99_us"] / 1000,
        )


@dataclass(frozen=True)
class PythonLoad:
    """The fallback generator: this module run as a subprocess (`python -m ...`)."""

    name: str = "python"

    def describe(self) -> str:
        return "python (asyncio HTTP/1.1 client; wrk not found, install Debian's wrk for more)"

    def run(self, load: Load) -> LoadResult:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "stampede.loadtest.commands.bench.loadgen",
                json.dumps(asdict(load)),
            ],
            capture_output=True,
            text=True,
            timeout=load.duration_s + PROCESS_SLACK_S,
        )
        if done.returncode != 0:
            raise RuntimeError(f"python load generator failed: {done.stderr.strip()[-300:]}")
        return LoadResult(**json.loads(done.stdout))


def pick(which: str = "auto") -> Generator:
    """`auto`: wrk when it is on PATH, else the Python generator."""
    wrk = shutil.which("wrk")
    if which == "wrk" or (which == "auto" and wrk):
        if not wrk:
            raise FileNotFoundError("wrk is not installed (Debian: apt-get install wrk)")
        return Wrk(wrk)
    return PythonLoad()


# ------------------------------------------------------------------ the Python generator


async def _connection(
    load: Load, host: str, port: int, end: float, start_n: int, out: dict[str, list]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    body = load.body.encode()
    head = f"{load.method} {{path}} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    head += "\r\n"
    n = start_n
    try:
        while time.perf_counter() < end:
            n += 1
            path = load.path.replace("{n}", str(n))
            sent = time.perf_counter()
            writer.write(head.replace("{path}", path).encode() + body)
            status_line = await reader.readline()
            headers = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in headers.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            out["latency"].append(time.perf_counter() - sent)
            out["status"].append(int(status_line.split()[1]))
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
        out["errors"].append(1)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _python_load(load: Load) -> LoadResult:
    parts = urlsplit(load.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    out: dict[str, list] = {"latency": [], "status": [], "errors": []}
    started = time.perf_counter()
    end = started + load.duration_s
    await asyncio.gather(
        *(_connection(load, host, port, end, i * 10_000_000, out) for i in range(load.connections))
    )
    seconds = time.perf_counter() - started
    latency_ms = [s * 1000 for s in out["latency"]] or [0.0]
    non_2xx = sum(1 for s in out["status"] if not 200 <= s < 300)
    return LoadResult(
        requests=len(out["status"]),
        errors=len(out["errors"]),
        non_2xx=non_2xx,
        duration_s=seconds,
        rps=(len(out["status"]) - non_2xx) / seconds,
        p50_ms=percentile(latency_ms, 50),
        p90_ms=percentile(latency_ms, 90),
        p99_ms=percentile(latency_ms, 99),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Python HTTP load (stampede bench server)")
    parser.add_argument("load", help="the Load as JSON")
    load = Load(**json.loads(parser.parse_args(argv).load))
    runner = asyncio.run if uvloop is None else uvloop.run
    print(json.dumps(asdict(runner(_python_load(load)))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
