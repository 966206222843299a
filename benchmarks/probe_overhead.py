"""What `stampede.probe` costs a server, measured in-process, where the machine's noise is small.

Two measurements, each probed against unprobed in alternating rounds of the same run, medians
reported with their ratio. Both count CPU time (`time.process_time`, all of the process's
threads), not wall time: on a shared machine other processes steal the CPU between requests,
which wall time would charge to whichever side was running.

- **hello**: a FastAPI `GET /hello` driven straight through ASGI (no sockets, no load
  generator), so the figure is the app's own time per request: routing, the probe's middleware
  layer, the response. The probed app has `stampede.probe.install(app)` and its lifespan
  running (monitor task and all).
- **to_thread**: `await asyncio.to_thread(noop)` round trips on the loop's default executor:
  CPython's ThreadPoolExecutor against the probe's instrumented one.

    .venv/bin/python benchmarks/probe_overhead.py              # ~20 s
    .venv/bin/python benchmarks/probe_overhead.py --rounds 9 --json

`stampede bench server` measures the same over real sockets with wrk; on a shared machine its
rounds vary by tens of percent, more than the probe's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import stampede.probe
from fastapi import FastAPI
from stampede.probe.executor import InstrumentedExecutor


def hello_app(probed: bool) -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    if probed:
        stampede.probe.install(app)
    return app


async def asgi_requests(app: FastAPI, count: int) -> float:
    """Seconds per request for `count` GET /hello straight through the ASGI interface."""
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "GET", "scheme": "http", "path": "/hello", "raw_path": b"/hello",
        "query_string": b"", "root_path": "", "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    request = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        return None

    started = time.process_time()
    for _ in range(count):
        await app(dict(scope), receive, send)
    return (time.process_time() - started) / count


async def hello_round(probed: bool, count: int) -> float:
    app = hello_app(probed)
    async with app.router.lifespan_context(app):
        await asgi_requests(app, 200)  # warm-up
        return await asgi_requests(app, count)


async def to_thread_round(executor_factory: Callable[[], Any], count: int) -> float:
    loop = asyncio.get_running_loop()
    executor = executor_factory()
    loop.set_default_executor(executor)
    try:
        for _ in range(50):
            await asyncio.to_thread(int)
        started = time.process_time()
        for _ in range(count):
            await asyncio.to_thread(int)
        return (time.process_time() - started) / count
    finally:
        executor.shutdown(wait=True)


def plain_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=6, thread_name_prefix="asyncio")


def probe_pool() -> InstrumentedExecutor:
    return InstrumentedExecutor(6)


def measure(rounds: int, requests: int, calls: int) -> dict[str, Any]:
    samples: dict[str, list[float]] = {k: [] for k in ("hello", "hello+probe", "pool", "probe")}
    for _ in range(rounds):  # alternate, so a slow spell of the machine hits both sides
        samples["hello"].append(asyncio.run(hello_round(False, requests)))
        samples["hello+probe"].append(asyncio.run(hello_round(True, requests)))
        default = lambda: ThreadPoolExecutor(max_workers=6, thread_name_prefix="asyncio")  # noqa: E731
        samples["pool"].append(asyncio.run(to_thread_round(default, calls)))
        samples["probe"].append(
            asyncio.run(to_thread_round(lambda: InstrumentedExecutor(6), calls))
        )
    us = {name: statistics.median(values) * 1e6 for name, values in samples.items()}
    return {
        "rounds": rounds,
        "hello_us_per_request": {"unprobed": us["hello"], "probed": us["hello+probe"]},
        "hello_rps_one_core": {"unprobed": 1e6 / us["hello"], "probed": 1e6 / us["hello+probe"]},
        "hello_ratio": us["hello+probe"] / us["hello"],
        "to_thread_us_per_call": {"threadpool": us["pool"], "instrumented": us["probe"]},
        "to_thread_ratio": us["probe"] / us["pool"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=3000, help="GET /hello per round")
    parser.add_argument("--calls", type=int, default=3000, help="to_thread calls per round")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.rounds, args.requests, args.calls)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    hello, pool = result["hello_us_per_request"], result["to_thread_us_per_call"]
    print(f"GET /hello through ASGI, CPU per request: {hello['unprobed']:.1f} us unprobed, "
          f"{hello['probed']:.1f} us probed (x{result['hello_ratio']:.3f}); one core: "
          f"{result['hello_rps_one_core']['unprobed']:.0f} vs "
          f"{result['hello_rps_one_core']['probed']:.0f} rps")  # fmt: skip
    ratio = result["to_thread_ratio"]
    print(f"to_thread round trip, CPU: {pool['threadpool']:.1f} us on ThreadPoolExecutor, "
          f"{pool['instrumented']:.1f} us on the probe's (x{ratio:.3f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
