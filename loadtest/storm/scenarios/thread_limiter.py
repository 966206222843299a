"""The thread-limiter storm (fastapi #3205): duplicates on a sync route, a sync health check beside.

Each variant's summary gains a `thread_limiter` block: the limiter finding (wedged / clean) with
its evidence and figures (loadtest/verdict/thread_limiter.py), and the sync health route's
finding from the clients' side. A target's stacks come from the black box's py-spy dump, taken
when it stalled.
"""

from __future__ import annotations

from typing import Any

from stampede.loadtest.storm.scenarios.detector_tables import detector_section
from stampede.loadtest.storm.scenarios.scenario import for_hazard
from stampede.loadtest.verdict.figures import Figure, Series
from stampede.loadtest.verdict.thread_limiter import (
    HEALTH_NAME,
    anyio_threads,
    exhaustion,
    health_check,
    limiter_finding,
    limiter_line,
)
from stampede.server.hazards import THREAD_LIMITER as SPEC

HEALTH_MARKER = HEALTH_NAME.split(" [", 1)[0]


def limiter_summary(record: Any, summary: dict[str, Any]) -> dict[str, Any]:
    blackbox = getattr(record, "blackbox", None)
    stacks = getattr(blackbox, "stacks", None)
    threads = anyio_threads((t.name, t.state) for t in stacks.threads) if stacks else None
    probed = blackbox is None or bool(blackbox.probed)
    requests = summary.get("requests") or {}
    finding = limiter_finding(
        exact=exhaustion(record.samples),
        probed=probed,
        stalled_at_s=summary.get("stalled_at_s"),
        stacks=threads,
        stacks_error=stacks.error if stacks else None,
        ok_requests=int(requests.get("ok") or 0),
    )
    health = health_check(requests.get("by_name") or {}, HEALTH_MARKER)
    return {"thread_limiter": {**finding, "sync_health": health}}


def limiter_verdict(variants: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for name, v in variants.items():
        if v.get("error"):
            lines.append(f"{name} did not run to the end: {v['error']}")
            continue
        block = v.get("thread_limiter") or {}
        lines += limiter_line(name, block, block.get("sync_health") or {})
    return lines


def _pair(block: dict[str, Any], a: str, b: str) -> str | None:
    return None if block.get(a) is None else f"{block.get(a)}/{block.get(b)}"


THREAD_LIMITER = for_hazard(
    SPEC,
    "Bursts of --duplicates concurrent GETs of one key on a sync route, the primary's sync "
    "step needing a second token from anyio's default CapacityLimiter(40): with sync_wait the "
    "duplicates park every worker thread in Event.wait and no step can start (wedged), and a "
    "sync health route asked beside each burst stops answering; async_wait (waiters hold no "
    "thread) keeps going.",
    locust_args={
        "duplicates": "10",
        "sync_health_path": "/v1/threads/healthz",
        "client_timeout": "3",
        "sync_health_timeout": "3",
    },
    summary_hooks=[limiter_summary],
    verdict=limiter_verdict,
    verdict_on_targets=True,
    sections=detector_section(
        "anyio thread limiter",
        "thread_limiter",
        "Probed: the longest span with every token of anyio's default limiter borrowed, tasks "
        "waiting for one and no client success (2 s flags it). Black box: on a stall, how many "
        "AnyIO worker threads py-spy found parked in a wait. Sync health: checks of the "
        "server's sync health route sent beside each burst, failed or timed out.",
        [
            ("exhausted s", lambda b: b.get("exhausted_s")),
            ("tokens borrowed / total", lambda b: _pair(b, "peak_borrowed", "tokens_total")),
            ("peak waiting", lambda b: b.get("peak_waiting")),
            ("AnyIO threads parked", lambda b: _pair(b, "anyio_parked", "anyio_threads")),
            ("sync health failed", lambda b: _pair(b["sync_health"], "failed", "asked")),
        ],
    ),
    figures=(
        Figure(
            "anyio_tokens.png",
            "anyio default thread limiter: tokens borrowed and tasks waiting",
            "tokens / tasks",
            (
                Series("borrowed", "anyio_tokens_borrowed"),
                Series("waiting for a token", "anyio_waiting_tasks"),
                Series("total", "anyio_tokens_total"),
            ),
        ),
    ),
)
