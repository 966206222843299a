"""The thread-limiter storm (fastapi #3205): duplicates on a sync route, a sync health check beside.

Each variant's summary gains a `thread_limiter` block: the limiter finding (wedged / clean) with
its evidence and figures (loadtest/verdict/thread_limiter.py), and the sync health route's
finding: the pinger asks the route (the server's `/v1/threads/healthz`, a target's
`--health-path`) every 0.25 s beside the storm, overlapping, and the checks sent while the wedge
held are counted against it. A target's stacks come from the black box's py-spy dump, taken when it
stalled.
"""

from __future__ import annotations

from typing import Any

from stampede.loadtest.observe.responsiveness import PING_TIMEOUT_S
from stampede.loadtest.storm.scenarios.detector_tables import detector_section
from stampede.loadtest.storm.scenarios.scenario import for_hazard
from stampede.loadtest.verdict.figures import Figure, Series
from stampede.loadtest.verdict.thread_limiter import (
    anyio_threads,
    exhaustion,
    health_finding,
    limiter_finding,
    limiter_line,
)
from stampede.server.hazards import THREAD_LIMITER as SPEC

SYNC_HEALTH_PATH = "/v1/threads/healthz"  # the built-in server's sync health route
STALL_S = 2.0  # the black box's stall threshold when the record does not say


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
    stall_s = float(getattr(blackbox, "stall_s", None) or STALL_S)
    health = health_finding(record.pings, record.samples, stall_s, PING_TIMEOUT_S)
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
    "sync health route asked beside the storm stops answering; async_wait (waiters hold no "
    "thread) keeps going.",
    locust_args={"duplicates": "10", "client_timeout": "3"},
    ping_path=SYNC_HEALTH_PATH,
    ping_overlap=True,
    summary_hooks=[limiter_summary],
    verdict=limiter_verdict,
    verdict_on_targets=True,
    sections=detector_section(
        "anyio thread limiter",
        "thread_limiter",
        "Probed: the longest span with every token of anyio's default limiter borrowed, tasks "
        "waiting for one and no client success (2 s flags it). Black box: on a stall, how many "
        "AnyIO worker threads py-spy found parked in a wait. Sync health: checks of the "
        "server's sync health route sent every 0.25 s beside the storm, overlapping; of those "
        "sent while the wedge held (probed: every token borrowed, tasks waiting and no success "
        "for 2 s; black box: a stall), how many went unanswered within the pinger's timeout.",
        [
            ("exhausted s", lambda b: b.get("exhausted_s")),
            ("tokens borrowed / total", lambda b: _pair(b, "peak_borrowed", "tokens_total")),
            ("peak waiting", lambda b: b.get("peak_waiting")),
            ("AnyIO threads parked", lambda b: _pair(b, "anyio_parked", "anyio_threads")),
            (
                "sync health unanswered while wedged",
                lambda b: _pair(b["sync_health"], "unanswered_in_wedge", "in_wedge"),
            ),
            ("sync health answered", lambda b: _pair(b["sync_health"], "answered", "asked")),
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
