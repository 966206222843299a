"""Invocations answered by a real strands.Agent per agent id (`stampede serve --agent strands`).

Concurrency model: every request runs on the server's one event loop and calls the agent's
`invoke_async` with the `Idempotency-Key` as `idempotency_token`, in THROW mode, so strands
itself decides primary, duplicate (waits for the primary's AgentResult) or conflict
(ConcurrencyException). strands makes that decision in `begin()`, synchronously, before
`invoke_async` first suspends, and clears it after its last await; so a record of the in-flight
primary kept here, created right before the call and dropped right after it, always agrees
with strands. The record gives the executor tags an owner id (model calls in the primary's
context, parked waiters in each duplicate's), the duplicates the primary's response body, and
shutdown the primary's task to cancel: strands then settles its waiters with
IdempotencyAbortedError, which releases even workers parked by the pre-fix waiter.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from stampede.probe.executor import tagged
from stampede.server.inflight import Outcome
from stampede.server.invocations import Dispatch, aborted_outcome, error, iso
from stampede.server.model import ModelThrottledError, StubBedrockModel
from stampede.server.sdk import STRANDS, SdkMissingError, sdk_version, strands_waiter
from stampede.server.sdk.strands_model import StrandsStubModel, lookup_weather
from stampede.server.telemetry import Telemetry
from stampede.server.waiters import ToThreadWaiter, Waiter
from strands import Agent
from strands.types.agent import ConcurrentInvocationMode
from strands.types.exceptions import ConcurrencyException, IdempotencyAbortedError

# Idle agents beyond this many are dropped, oldest first: a bound on per-agent-id state.
MAX_AGENTS = 4096


def describe(waiter: str) -> str:
    """What answers invocations, e.g. "strands-agents 1.62.0 with pre-fix waiter"."""
    if waiter == "batched":
        # strands ships its own waiter (the future one); batched exists only in Stampede.
        raise SdkMissingError(
            "--waiter batched is Stampede's own waiter and does not run inside strands; "
            "use --waiter future (strands as released) or to_thread (the pre-fix what-if)"
        )
    version = sdk_version(STRANDS, "--agent strands")
    return f"{STRANDS} {version}" + (f" {strands_waiter.LABEL}" if waiter == "to_thread" else "")


@dataclass
class StrandsPrimary:
    """The in-flight primary on one agent, as strands sees it."""

    agent_id: str
    key: str | None
    task: asyncio.Task[Any] | None
    cycles_before: int = 0  # strands' metrics accumulate over an agent's life
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: float = field(default_factory=time.time)
    settled: bool = False
    _body: dict[str, Any] | None = None

    def body(self, result: Any) -> dict[str, Any]:
        """The primary's 200 body; built once, so every duplicate shares it byte for byte."""
        if self._body is None:
            self._body = {
                "agent_id": self.agent_id,
                "idempotency_key": self.key,
                "role": "primary",
                "text": result_text(result),
                "model_calls": int(result.metrics.cycle_count) - self.cycles_before,
                "started_at": iso(self.started_at),
                "finished_at": iso(time.time()),
            }
        return self._body


def result_text(result: Any) -> str:
    return "".join(block.get("text", "") for block in result.message.get("content", []))


class StrandsInvocationService(Dispatch):
    """The InvocationService interface (invoke, inflight, waiting, abort_all) over strands."""

    def __init__(
        self,
        model: StubBedrockModel,
        waiter: Waiter,
        telemetry: Telemetry,
        duplicate_timeout_s: float | None = None,
    ) -> None:
        self.description = describe(waiter.name)
        self.model = StrandsStubModel(model, telemetry.model_call)
        self.telemetry = telemetry
        self.duplicate_timeout_s = duplicate_timeout_s
        self.prefix_waiter = waiter if isinstance(waiter, ToThreadWaiter) else None
        if self.prefix_waiter is not None:
            strands_waiter.install()
        self.agents: OrderedDict[str, Agent] = OrderedDict()
        self.inflight: dict[str, StrandsPrimary] = {}
        self.waiting = 0
        self.active_requests = 0
        self.last_completion = time.monotonic()
        self.closing = False

    def _agent(self, agent_id: str) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            agent = Agent(
                model=self.model,
                tools=[lookup_weather],
                callback_handler=None,  # silent; the default prints every event
                concurrent_invocation_mode=ConcurrentInvocationMode.THROW,
            )
            self.agents[agent_id] = agent
            self._evict_idle()
        self.agents.move_to_end(agent_id)
        return agent

    def _evict_idle(self) -> None:
        for agent_id in list(self.agents):
            if len(self.agents) <= MAX_AGENTS:
                return
            if agent_id not in self.inflight:
                del self.agents[agent_id]

    async def _primary(self, agent_id: str, key: str | None, prompt: str) -> Outcome:
        agent = self._agent(agent_id)
        cycles = int(agent.event_loop_metrics.cycle_count)
        record = StrandsPrimary(agent_id, key, asyncio.current_task(), cycles)
        self.inflight[agent_id] = record
        # Each invocation stands alone, as with the builtin agent: no history to replay, and
        # none to grow without bound under a long storm.
        agent.messages.clear()
        outcome: Outcome
        try:
            # Model calls made in this context are tagged with the primary's id.
            with tagged("other", record.id):
                result = await agent.invoke_async(prompt, idempotency_token=key)
            outcome = Outcome(200, record.body(result))
        except asyncio.CancelledError:
            if not self.closing:
                raise
            outcome = aborted_outcome(agent_id)  # shutdown cancelled it; answer rather than vanish
        except Exception as exc:
            outcome = _failure(agent_id, exc)
        finally:
            record.settled = True
            if self.inflight.get(agent_id) is record:
                del self.inflight[agent_id]
        return outcome

    async def _duplicate(self, primary: StrandsPrimary, prompt: str) -> Outcome:
        agent = self._agent(primary.agent_id)
        self.waiting += 1
        try:
            with tagged("waiter", primary.id), strands_waiter.prefix_scope(self.prefix_waiter):
                call = agent.invoke_async(prompt, idempotency_token=primary.key)
                result = await asyncio.wait_for(call, self.duplicate_timeout_s)
        except TimeoutError:
            return error(
                504,
                "duplicate_timeout",
                f"duplicate waited {self.duplicate_timeout_s:g} s for the in-flight invocation "
                f"on agent {primary.agent_id!r} without an answer",
                agent_id=primary.agent_id,
            )
        except asyncio.CancelledError:
            if not self.closing:
                raise
            return aborted_outcome(primary.agent_id)
        except Exception as exc:
            return _failure(primary.agent_id, exc)
        finally:
            self.waiting -= 1
        return Outcome(200, {**primary.body(result), "role": "duplicate"})

    async def _conflict(self, agent_id: str, key: str | None, prompt: str) -> Outcome:
        # strands refuses this one itself (ConcurrencyException) before doing any work.
        try:
            result = await self._agent(agent_id).invoke_async(prompt, idempotency_token=key)
        except Exception as exc:
            return _failure(agent_id, exc, key=key)
        return Outcome(500, {"error": "agent_error", "message": f"unexpected result {result!r}"})

    def abort_all(self) -> int:
        """Cancel every in-flight primary; strands then settles its waiters as aborted."""
        self.closing = True
        aborted = 0
        for record in list(self.inflight.values()):
            if record.task is not None and not record.task.done():
                record.task.cancel()
                aborted += 1
        return aborted


def _failure(agent_id: str, exc: BaseException, key: str | None = None) -> Outcome:
    """strands' exceptions as the builtin agent's JSON errors."""
    if isinstance(exc, ConcurrencyException):
        which = "without an idempotency key" if key is None else "with a different key"
        return error(
            409,
            "conflict",
            f"agent {agent_id!r} is already processing an invocation; this request came "
            f"{which} (strands: {exc})",
            agent_id=agent_id,
        )
    if isinstance(exc, IdempotencyAbortedError):
        return error(
            503,
            "aborted",
            f"the primary invocation on agent {agent_id!r} ended without a result, so its "
            f"duplicates have none to share (strands IdempotencyAbortedError: {exc})",
            agent_id=agent_id,
        )
    throttled = _find(exc, ModelThrottledError)
    if throttled is not None:
        return error(429, "model_throttled", str(throttled), agent_id=agent_id)
    return error(500, "agent_error", f"{type(exc).__name__}: {exc}", agent_id=agent_id)


def _find(exc: BaseException | None, kind: type[BaseException]) -> BaseException | None:
    """`kind` in exc's cause/context chain: strands may wrap what the model raised."""
    seen = 0
    while exc is not None and seen < 16:
        if isinstance(exc, kind):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None
