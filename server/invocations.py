"""Idempotent invocations with Strands' THROW-mode semantics.

Per agent at most one invocation runs at a time: the primary. A request carrying the primary's
idempotency key is a duplicate and waits (with the configured waiter) for the primary's outcome;
any other request while one is in flight is a 409. Keys are forgotten once the primary settles,
so a later retry runs anew.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any

from stampede.server.agent import run_agent
from stampede.server.idempotency import IdempotencyLedger, fingerprint
from stampede.server.inflight import Inflight, Outcome
from stampede.server.model import ModelThrottledError, StubBedrockModel
from stampede.server.telemetry import Telemetry
from stampede.server.waiters import Waiter

_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text
# CPython's RuntimeError when the OS refuses a thread (a pids cap, RLIMIT_NPROC).
THREAD_START_FAILED = "can't start new thread"


def iso(ts: float) -> str:
    """UTC ISO 8601 to the millisecond, e.g. "2026-06-24T09:30:00.123+00:00".

    Two per answer: the whole second is formatted once and reused (one tuple, swapped whole,
    so threads may share it), leaving only the milliseconds to format per call.
    """
    global _second
    # Rounded to the microsecond first, half to even, as datetime.fromtimestamp does.
    fraction, whole = math.modf(ts)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    second, text = _second
    if second != whole:
        second = int(whole)
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second = (second, text)
    return f"{text}.{micros // 1000:03d}+00:00"


def error(status: int, code: str, message: str, **extra: object) -> Outcome:
    return Outcome(status, {"error": code, "message": message, **extra})


class Dispatch:
    """Routes one request to the primary, duplicate or conflict path and accounts for it.

    Shared by every invocation service; each supplies `_primary`, `_duplicate`, `_conflict`
    and the state this reads (`inflight`, `closing`, counters, `telemetry`).
    """

    inflight: dict[str, Any]
    closing: bool
    active_requests: int
    last_completion: float
    telemetry: Telemetry
    ledger: IdempotencyLedger  # key semantics: fingerprints, replay, side effects

    async def invoke(self, agent_id: str, key: str | None, prompt: str) -> Outcome:
        if self.active_requests == 0:
            # The stall clock runs from when the server got busy, not from its last answer
            # before an idle spell (or its start): the first request is not a stall.
            self.last_completion = time.monotonic()
        self.active_requests += 1
        started = time.perf_counter()
        role = "primary"
        fp = fingerprint(prompt) if key is not None else ""  # only keyed requests compare it
        try:
            current = self.inflight.get(agent_id)
            known = self.ledger.lookup(agent_id, key, fp) if key is not None else None
            if self.closing:
                outcome = error(503, "shutting_down", "the server is shutting down")
            elif known is not None:
                role = "replay" if known.body.get("role") == "replay" else "duplicate"
                outcome = known
            elif current is None:
                outcome = await self._run_primary(agent_id, key, prompt, fp)
            elif key is not None and key == current.key:
                role = "duplicate"
                outcome = await self._wait_as_duplicate(current, agent_id, prompt)
            else:
                outcome = await self._conflict(agent_id, key, prompt)
        finally:
            self.active_requests -= 1
            self.last_completion = time.monotonic()
        self.telemetry.invocation_done(role, outcome_label(outcome), time.perf_counter() - started)
        return outcome

    async def _wait_as_duplicate(self, current: Any, agent_id: str, prompt: str) -> Outcome:
        try:
            return await self._duplicate(current, prompt)
        except RuntimeError as exc:
            # A thread-based waiter under a pids cap: no worker to park, so say so in JSON.
            if THREAD_START_FAILED not in str(exc):
                raise
            return error(
                503,
                "no_worker_thread",
                f"could not start a worker thread for this duplicate to wait on: {exc}",
                agent_id=agent_id,
            )

    async def _run_primary(self, agent_id: str, key: str | None, prompt: str, fp: str) -> Outcome:
        if key is None:
            return await self._primary(agent_id, key, prompt)
        if self.ledger.started(agent_id, key, fp):
            self.telemetry.duplicate_side_effects.inc()
        outcome = aborted_outcome(agent_id)
        try:
            outcome = await self._primary(agent_id, key, prompt)
        finally:
            self.ledger.finished(agent_id, key, fp, outcome)
        return outcome

    async def _primary(self, agent_id: str, key: str | None, prompt: str) -> Outcome:
        raise NotImplementedError

    async def _duplicate(self, current: Any, prompt: str) -> Outcome:
        raise NotImplementedError

    async def _conflict(self, agent_id: str, key: str | None, prompt: str) -> Outcome:
        raise NotImplementedError


@dataclass
class InvocationService(Dispatch):
    model: StubBedrockModel
    waiter: Waiter
    telemetry: Telemetry
    duplicate_timeout_s: float | None = None
    inflight: dict[str, Inflight] = field(default_factory=dict)
    waiting: int = 0
    active_requests: int = 0
    last_completion: float = field(default_factory=time.monotonic)
    closing: bool = False
    ledger: IdempotencyLedger = field(default_factory=IdempotencyLedger)

    async def _primary(self, agent_id: str, key: str | None, prompt: str) -> Outcome:
        inflight = Inflight(agent_id=agent_id, key=key)
        self.inflight[agent_id] = inflight
        outcome: Outcome | None = None
        try:
            result = await run_agent(
                self.model, prompt, owner=inflight.id, on_model_call=self.telemetry.model_call
            )
            outcome = Outcome(
                200,
                {
                    "agent_id": agent_id,
                    "idempotency_key": key,
                    "role": "primary",
                    "text": result.text,
                    "model_calls": result.model_calls,
                    "started_at": iso(inflight.started_at),
                    "finished_at": iso(time.time()),
                },
            )
        except ModelThrottledError as exc:
            outcome = error(429, "model_throttled", str(exc), agent_id=agent_id)
        except asyncio.CancelledError:
            if not self.closing:
                raise
            # Shutdown cancelled the queued model call; answer rather than vanish.
            outcome = aborted_outcome(agent_id)
        except Exception as exc:
            outcome = error(500, "agent_error", f"{type(exc).__name__}: {exc}", agent_id=agent_id)
        finally:
            if self.inflight.get(agent_id) is inflight:
                del self.inflight[agent_id]
            inflight.settle(outcome or aborted_outcome(agent_id))
        assert inflight.outcome is not None  # settled just now, or aborted before
        return inflight.outcome

    async def _duplicate(self, inflight: Inflight, prompt: str) -> Outcome:
        self.waiting += 1
        try:
            if self.duplicate_timeout_s is None:  # no timer, no extra coroutine per duplicate
                shared = await self.waiter.wait(inflight)
            else:
                shared = await asyncio.wait_for(
                    self.waiter.wait(inflight), self.duplicate_timeout_s
                )
        except TimeoutError:
            return error(
                504,
                "duplicate_timeout",
                f"duplicate waited {self.duplicate_timeout_s:g} s for the in-flight invocation "
                f"on agent {inflight.agent_id!r} without an answer",
                agent_id=inflight.agent_id,
            )
        finally:
            self.waiting -= 1
        return shared.as_duplicate

    async def _conflict(self, agent_id: str, key: str | None, prompt: str) -> Outcome:
        which = "without an idempotency key" if key is None else "with a different key"
        return error(
            409,
            "conflict",
            f"agent {agent_id!r} is already processing an invocation; this request came {which}",
            agent_id=agent_id,
        )

    def abort_all(self) -> int:
        """Settle every in-flight invocation as aborted, releasing all waiters of any kind."""
        self.closing = True
        aborted = 0
        for agent_id, inflight in list(self.inflight.items()):
            aborted += inflight.settle(aborted_outcome(agent_id))
        return aborted


def aborted_outcome(agent_id: str) -> Outcome:
    return error(503, "aborted", "the invocation was aborted by server shutdown", agent_id=agent_id)


def outcome_label(outcome: Outcome) -> str:
    if outcome.ok:
        return "ok"
    return {
        409: "conflict",
        422: "mismatch",
        504: "timeout",
        503: "aborted",
        429: "throttled",
    }.get(outcome.status, "error")
