"""One closed-model step of a target plan: N clients, each starting its next intent when the last
one is done, against one loopback target, for a bounded window.

Why not Locust: a target plan runs some 25 steps per host shape (the concurrency ladder, the
storm-margin search and the four retry policies), a few seconds each. A Locust process takes
2-4 s to start on this machine, which alone would spend the 5-minute budget of a three-shape
plan. This generator starts in milliseconds, runs in the harness's own event loop (httpx,
keep-alive connections, one client per step), and speaks the same workload file as compare's
Locust users. It is cheap at the rates a step sees (hundreds of intents/s at most), and it
measures what a plan needs: goodput, intent latency and attempts.

An intent is what `compare`'s idempotency storm sends: one key, fanned out to 1 + `duplicates`
concurrent senders (SDK, gateway and app layers retrying at once), each retrying timeouts and
overload answers with the same key under a retry policy and its guard (the storm's own
backoff and retry_control modules). It succeeds when any sender gets a 2xx; its latency is the
time to that first success. Only intents that end inside the window count, after a warm-up
that lets the closed loop reach its steady state; when the window closes no intent starts, and
the ones in flight finish (bounded), so the next step finds the target drained.

Goodput is N / R̄ x the success ratio, R̄ the mean time from an intent's start to its end: in a
closed loop with no think time that is the throughput exactly (Little's law, N = X·R̄). The
count of successes in the window divided by its length says the same on average but is
quantised: c workers of service time s finish in bursts of c every s, so a 1.5 s window holds
14 or 15 bursts, a 7% swing. Both are recorded (`window_goodput_per_s` is the count).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
import psutil
from stampede.loadtest.storm.users.retry import attempts, backoff_s, max_backoff_s
from stampede.loadtest.storm.users.retry_control import guard_for, reset_guards
from stampede.loadtest.storm.users.workload import Workload
from stampede.loadtest.verdict.stats import percentile

FANOUT_STAGGER_S = 0.02  # as in the storm: layers retrying "at once" still arrive ms apart
DRAIN_SLACK_S = 2.0
RETRYABLE = {"client_timeout", "duplicate_timeout", "throttled", "connection_error"}


@dataclass(frozen=True)
class Step:
    concurrency: int
    duplicates: int = 0  # extra same-key senders per intent
    policy: str = "none"
    max_retries: int = 0
    retry_base_s: float = 0.25
    timeout_s: float = 6.0  # per attempt
    warmup_s: float = 0.3
    window_s: float = 2.0
    seed: int = 0

    def drain_s(self) -> float:
        """How long intents in flight at the window's end may take to finish, at most."""
        tries = attempts(self.policy, self.max_retries)
        backoff = max_backoff_s(self.policy, self.retry_base_s) * (tries - 1)
        return tries * self.timeout_s + backoff + DRAIN_SLACK_S


@dataclass
class _Intent:
    started: float
    ended: float = 0.0
    ok_at: float | None = None
    attempts: int = 0
    outcomes: dict[str, int] | None = None


class _Cpu:
    """CPU seconds of a target process and its children (None for a URL target)."""

    def __init__(self, pid: int | None) -> None:
        self.proc = psutil.Process(pid) if pid else None

    def seconds(self) -> float | None:
        if self.proc is None:
            return None
        with contextlib.suppress(psutil.Error):
            total = sum(self.proc.cpu_times()[:2])
            for child in self.proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += sum(child.cpu_times()[:2])
            return total
        return None


async def run_step(
    base_url: str, workload: Workload, step: Step, pid: int | None = None
) -> dict[str, Any]:
    """Run one step; the figures of the intents that ended inside its window."""
    reset_guards()
    rng = random.Random(step.seed)
    guard = guard_for("plan", step.policy)
    senders = 1 + step.duplicates
    limits = httpx.Limits(
        max_connections=step.concurrency * senders + 8,
        max_keepalive_connections=step.concurrency * senders + 8,
    )
    timeout = httpx.Timeout(step.timeout_s, pool=step.timeout_s)
    intents: list[_Intent] = []
    cpu = _Cpu(pid)
    w0 = w1 = 0.0  # set when the clock starts, after the preflight attempt
    marks: dict[str, Any] = {}

    async def send(client: httpx.AsyncClient, agent: str, key: str, intent: _Intent) -> None:
        for attempt in range(attempts(step.policy, step.max_retries)):
            retry = attempt > 0
            if not guard.allow(retry, rng):
                _count(intent, "denied")
                return
            guard.begin(retry)
            intent.attempts += 1
            outcome = await _attempt(client, workload, agent, key)
            guard.end(retry, outcome)
            _count(intent, outcome)
            if outcome == "ok":
                intent.ok_at = intent.ok_at or time.monotonic()
                return
            if outcome not in RETRYABLE or attempt + 1 >= attempts(step.policy, step.max_retries):
                return
            await asyncio.sleep(backoff_s(step.policy, attempt + 1, step.retry_base_s, rng))

    async def user(client: httpx.AsyncClient, index: int) -> None:
        n = 0
        while time.monotonic() < w1:
            n += 1
            intent = _Intent(time.monotonic())
            agent, key = f"plan-{index}-{n}", secrets.token_hex(8)
            fanout = [send(client, agent, key, intent)]
            for k in range(1, senders):
                fanout.append(_later(k * FANOUT_STAGGER_S, send(client, agent, key, intent)))
            await asyncio.gather(*fanout)
            intent.ended = time.monotonic()
            intents.append(intent)

    async def clock() -> None:
        await asyncio.sleep(max(0.0, w0 - time.monotonic()))
        marks["cpu0"], marks["t0"] = cpu.seconds(), time.monotonic()
        await asyncio.sleep(max(0.0, w1 - time.monotonic()))
        marks["cpu1"], marks["t1"] = cpu.seconds(), time.monotonic()

    drained = True
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
        # One attempt before the clock: a fresh client's first request pays the TCP connect
        # (and a fresh server's first-request path), which at N=1 would be a third of the
        # few intents the window holds and move the single-client line the knee rests on.
        await _attempt(client, workload, "plan-preflight", secrets.token_hex(8))
        start = time.monotonic()
        w0, w1 = start + step.warmup_s, start + step.warmup_s + step.window_s
        users = [asyncio.create_task(user(client, i)) for i in range(step.concurrency)]
        await clock()
        try:
            async with asyncio.timeout(step.drain_s()):
                await asyncio.gather(*users)
        except TimeoutError:
            drained = False  # a wedged target: its intents never end
        finally:
            for task in users:
                task.cancel()
            await asyncio.gather(*users, return_exceptions=True)
    return _figures(step, intents, marks, w0, w1, drained)


def _little(concurrency: int, done: list[_Intent], ok: int) -> float:
    """N / mean intent time x success ratio (see the module docstring); 0 when none ended."""
    if not done or not ok:
        return 0.0
    mean_s = sum(i.ended - i.started for i in done) / len(done)
    return concurrency / mean_s * ok / len(done) if mean_s > 0 else 0.0


async def _later(delay: float, work: Any) -> None:
    await asyncio.sleep(delay)
    await work


def _count(intent: _Intent, outcome: str) -> None:
    if intent.outcomes is None:
        intent.outcomes = {}
    intent.outcomes[outcome] = intent.outcomes.get(outcome, 0) + 1


async def _attempt(client: httpx.AsyncClient, workload: Workload, agent: str, key: str) -> str:
    invoke = workload.invoke
    headers = {invoke.idempotency_header: key} if invoke.idempotency_header else {}
    body = workload.invoke_body("plan step")
    kwargs: dict[str, Any] = {"json": body} if not isinstance(body, str) else {"content": body}
    try:
        response = await client.request(
            invoke.method, workload.invoke_path(agent), headers=headers, **kwargs
        )
    except httpx.TimeoutException:
        return "client_timeout"
    except httpx.HTTPError:
        return "connection_error"
    if 200 <= response.status_code < 300:
        return "ok"
    return workload.status_outcome(response.status_code) or "http_error"


def _figures(
    step: Step, intents: list[_Intent], marks: dict[str, Any], w0: float, w1: float, drained: bool
) -> dict[str, Any]:
    done = [i for i in intents if w0 <= i.ended <= w1]
    ok = [i for i in done if i.ok_at is not None]
    window = max(1e-9, marks.get("t1", w1) - marks.get("t0", w0))
    latencies = [(i.ok_at - i.started) * 1000 for i in ok if i.ok_at is not None]
    outcomes: dict[str, int] = {}
    for i in done:
        for name, n in (i.outcomes or {}).items():
            outcomes[name] = outcomes.get(name, 0) + n
    cpu0, cpu1 = marks.get("cpu0"), marks.get("cpu1")
    lat = {q: round(percentile(latencies, q), 1) for q in (50, 95, 99)} if latencies else {}
    return {
        "concurrency": step.concurrency,
        "duplicates": step.duplicates,
        "policy": step.policy,
        "window_s": round(window, 3),
        "intents_ended": len(done),
        "intents_ok": len(ok),
        "goodput_per_s": round(_little(step.concurrency, done, len(ok)), 3),
        "window_goodput_per_s": round(len(ok) / window, 3),
        "success_ratio": round(len(ok) / len(done), 4) if done else None,
        "attempts_per_intent": round(sum(i.attempts for i in done) / len(done), 3)
        if done
        else None,
        "latency_ms": {f"p{q}": v for q, v in lat.items()},
        "outcomes": outcomes,
        "target_cpu_cores": None
        if cpu0 is None or cpu1 is None
        else round((cpu1 - cpu0) / window, 3),
        "stalled": not ok,  # the load was on for the whole window and nothing succeeded
        "drained": drained,
    }
