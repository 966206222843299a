"""A user-style agent server whose capacity is known in advance: ground truth for a plan.

    python -m examples.fixed_capacity --workers 4 --service-ms 100 --port 8000
    python -m examples.fixed_capacity --workers 4 --service-ms 100 --locked 0.25 --port 8000

Each invocation takes one of `c` workers (an asyncio.Semaphore of c) for a fixed service time
`s` (asyncio.sleep), so a closed-model client sees throughput min(N, c) / s: it grows linearly
up to N = c (the knee) and is flat at c / s beyond it (the peak). `--locked f` makes a fraction
f of each request's service time run under one global lock, a known contention: then the peak
is min(c / s, 1 / (f * s)). Nothing here knows about Stampede; it is what a user would write.
"""

from __future__ import annotations

import argparse
import asyncio
import os

import uvicorn
from fastapi import FastAPI, Request


def create_app(workers: int, service_s: float, locked: float = 0.0) -> FastAPI:
    app = FastAPI()
    slots = asyncio.Semaphore(workers)
    lock = asyncio.Lock()
    served = {"n": 0}

    @app.get("/healthz")
    async def healthz() -> dict[str, object]:
        return {"status": "ok", "workers": workers, "service_s": service_s, "served": served["n"]}

    @app.post("/v1/agents/{agent}/invocations")
    async def invoke(agent: str, request: Request) -> dict[str, object]:
        await request.body()
        async with slots:
            await asyncio.sleep(service_s * (1 - locked))
            if locked:
                async with lock:  # the serial fraction: one request at a time holds it
                    await asyncio.sleep(service_s * locked)
            served["n"] += 1
        return {"agent": agent, "text": "done", "role": "primary"}

    return app


def _env_app() -> FastAPI:
    """`uvicorn examples.fixed_capacity:app`: the figures from the environment."""
    return create_app(
        int(os.environ.get("FIXED_WORKERS", "4")),
        float(os.environ.get("FIXED_SERVICE_MS", "100")) / 1000,
        float(os.environ.get("FIXED_LOCKED", "0")),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4, help="c: requests served at once")
    parser.add_argument("--service-ms", type=float, default=100.0, help="s: each one's time")
    parser.add_argument("--locked", type=float, default=0.0, help="f: share under one lock")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--limit-concurrency", type=int, default=None)
    args = parser.parse_args()
    if args.workers < 1 or args.service_ms <= 0 or not 0 <= args.locked <= 1:
        parser.error("need --workers >= 1, --service-ms > 0 and 0 <= --locked <= 1")
    app = create_app(args.workers, args.service_ms / 1000, args.locked)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        limit_concurrency=args.limit_concurrency,
    )


app = _env_app()

if __name__ == "__main__":
    main()
