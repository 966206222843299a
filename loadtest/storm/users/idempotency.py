"""The retry storm on idempotent invocations (seed 001).

Each intent (one logical request) gets an idempotency key and an agent: its own (`--agents 0`,
the default of `stampede compare`) or one drawn from a skewed pool, so intents collide on hot
agents (409s). K senders fan the same key out at once (SDK retry + gateway retry + app retry);
each sender retries on timeouts with the same key, per the retry policy. Attempts are named by
role: `invoke [primary]` is sender 0's first attempt, `invoke [dup]` the other senders' first
attempts, `invoke [retry]` every later attempt. Every attempt is recorded on its intent
(loadtest/storm/users/intents.py).

Closed model (default): a user starts its next intent when the last one is done. Open model
(`--arrival-rate`): intents start on the schedule of loadtest/storm/users/arrival.py, each in its
own greenlet, whatever the answers do; a start the user cannot make (too many in flight) is
dropped and recorded, a late one keeps its intended start, so latency counts the lateness.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import gevent
from gevent.pool import Group
from locust import events, task
from locust.runners import WorkerRunner
from stampede.loadtest.storm.users.agents import AgentPool, zipf_cum_weights
from stampede.loadtest.storm.users.arrival import RateSchedule, total_s
from stampede.loadtest.storm.users.base import StormUser
from stampede.loadtest.storm.users.exchange import (
    answer_of,
    attempt_context,
    captured,
    judged,
    poll_until,
    run_steps,
    send,
)
from stampede.loadtest.storm.users.intents import LOG, Intent
from stampede.loadtest.storm.users.outcomes import AnswerError, outcome_of
from stampede.loadtest.storm.users.retry import attempts, backoff_s, max_backoff_s
from stampede.loadtest.storm.users.retry_control import guard_for

FANOUT_STAGGER_S = 0.02  # layers retrying "at once" still arrive a few ms apart
TEARDOWN_S = 1.0
DEFAULT_RAMP_S = 60.0  # a ramp without a run time (web UI): over this long, then hold


@dataclass(frozen=True)
class LogicalRequest:
    agent: str
    key: str


@events.test_start.add_listener
def _share_run_shape(environment: Any, **_: Any) -> None:
    """Master or local runner: put the user count and run time where workers can read them
    (Locust ships only custom arguments to workers)."""
    if isinstance(environment.runner, WorkerRunner) or environment.parsed_options is None:
        return
    parsed = environment.parsed_options
    target = getattr(environment.runner, "target_user_count", 0) or parsed.num_users or 0
    parsed.storm_total_users = int(target)
    parsed.storm_run_time = float(parsed.run_time or 0)
    # One schedule origin for every worker: the master's (its intents file and triggers use it).
    parsed.storm_t0 = float(LOG.meta.get("t0") or time.time())


class IdempotencyStormUser(StormUser):
    """Intents fanned out to --duplicates concurrent senders each; closed or open model."""

    def on_start(self) -> None:
        self.sent = 0
        count = self.options.agents
        self.agents = AgentPool(count)  # lazy, and the weights are shared: O(1) per user
        self.agent_weights = zipf_cum_weights(count)  # Zipf: hot agents collide
        self.guard = guard_for(self.variant, self.options.retry_policy, self.options.retry_budget)
        self.flying = Group()  # open model: this user's intents in flight
        self.schedule_done = False
        self.rule = self.workload.invoke.rule()
        self.user_context: dict[str, Any] = {}  # captures of the user-scoped setup steps
        self.user_ready = False

    def on_stop(self) -> None:
        self.flying.kill(block=False)

    def wait_time(self) -> float:
        return 0.0 if self.options.arrival is not None else super().wait_time()

    @task
    def storm(self) -> None:
        if self.options.arrival is None:
            now = time.time()
            self.run_intent(self.next_request(), now, now)
        elif not self.schedule_done:
            self.open_loop()
        else:
            gevent.sleep(1.0)  # the schedule is over; stay idle until Locust stops

    # -- open model ---------------------------------------------------------------------------

    def open_loop(self) -> None:
        """This user's share of the schedule: arrivals n = U x (k + phase), k = 0, 1, ..."""
        o, env = self.options, self.environment
        parsed = env.parsed_options
        users = max(1, int(getattr(parsed, "storm_total_users", 0) or parsed.num_users or 1))
        run_time = float(getattr(parsed, "storm_run_time", 0) or parsed.run_time or 0)
        end_s = total_s(o.phases) or run_time or float("inf")
        schedule = RateSchedule(o.arrival, run_time or DEFAULT_RAMP_S, o.phases, o.trigger)
        t0 = float(getattr(parsed, "storm_t0", 0) or LOG.meta.get("t0") or time.time())
        phase = self.rng.random()
        k = 0
        try:
            while True:
                due_s = schedule.time_of(users * (k + phase))
                if due_s is None or due_s >= end_s:
                    return
                k += 1
                due = t0 + due_s
                gevent.sleep(max(0.0, due - time.time()))
                request = self.next_request()
                if len(self.flying) >= o.max_inflight_intents:
                    LOG.drop(request.key, self.variant, due)
                    continue
                self.flying.spawn(self.run_intent, request, due, time.time())
        finally:
            self.schedule_done = True

    # -- one intent ---------------------------------------------------------------------------

    def next_request(self) -> LogicalRequest:
        self.sent += 1
        key = f"s{self.options.seed}-w{self.worker}-u{self.slot}-r{self.sent}"
        if not self.agents:
            return LogicalRequest(agent=f"agent-{key}", key=key)
        agent = self.rng.choices(self.agents, cum_weights=self.agent_weights)[0]
        return LogicalRequest(agent=agent, key=key)

    def run_intent(self, request: LogicalRequest, intended: float, started: float) -> None:
        intent = LOG.open(request.key, self.variant, request.agent, intended, started)
        group = Group()
        try:
            context = self.setup_for(request, intent)
            if context is None:
                LOG.close(intent)
                return
            for sender in range(self.options.duplicates):
                group.spawn(self.send, request, sender, intent, context)
            group.join(timeout=self.budget_s())
        except gevent.GreenletExit:  # Locust stops the user: the intent stays open, "cut"
            group.kill(block=False)
            raise
        group.kill(block=True, timeout=TEARDOWN_S)  # only stragglers past the bound
        LOG.close(intent)

    def budget_s(self) -> float:
        o = self.options
        tries = attempts(o.retry_policy, o.max_retries)
        per_try = o.client_timeout + 0.5
        return (
            FANOUT_STAGGER_S
            + tries * per_try
            + (tries - 1) * max_backoff_s(o.retry_policy, o.retry_base)
        )

    def send(
        self, request: LogicalRequest, sender: int, intent: Intent, context: dict[str, Any]
    ) -> None:
        o = self.options
        rng = random.Random(f"{request.key}:{sender}")
        if sender:
            gevent.sleep(rng.uniform(0.0, FANOUT_STAGGER_S))
        tries = attempts(o.retry_policy, o.max_retries)
        for attempt in range(tries):
            label = "retry" if attempt else ("primary" if sender == 0 else "dup")
            outcome = self.attempt(request, label, intent, rng, context)
            if outcome == "ok" or not _retryable(outcome) or attempt + 1 == tries:
                return
            gevent.sleep(backoff_s(o.retry_policy, attempt + 1, o.retry_base, rng))

    def attempt(
        self,
        request: LogicalRequest,
        label: str,
        intent: Intent,
        rng: random.Random,
        context: dict[str, Any],
    ) -> str:
        """One attempt (unless the retry guard says no), polled to its terminal answer if the
        workload has a [poll]; returns its outcome."""
        retry = label == "retry"
        now = time.time()
        if not self.guard.allow(retry, rng):
            intent.record(label, now, now, "rejected_locally")
            return "rejected_locally"
        self.guard.begin(retry)
        record = intent.begin(label, now)
        outcome = "connection_error"
        status, judgement = 0, None
        invoke, poll = self.workload.invoke, self.workload.poll
        ctx = attempt_context(context)
        deadline = time.monotonic() + self.options.client_timeout
        key_header = {invoke.idempotency_header: request.key} if invoke.idempotency_header else {}
        try:
            with self.in_flight():
                if self.workload.steps("attempt"):  # e.g. a session of its own per attempt
                    outcome = run_steps(self, self.workload.steps("attempt"), ctx)
                    if outcome != "ok":
                        outcome = "setup_failed"
                        return outcome
                name = f"{self.name_prefix}invoke [{label}]"
                with send(self, invoke, ctx, name, key_header, request.key) as response:
                    # Success is the whole answer (users/success.py), not a status.
                    failure, judgement = judged(response, self.workload, self.rule)
                    status = int(getattr(response, "status_code", 0) or 0)
                    # A cut body is never read again: that would wait out a second timeout.
                    first = answer_of(response) if failure is None else None
                    values = captured(invoke.capture, first) if first is not None else {}
                    if values is None:
                        failure = AnswerError.of("capture_missing")
                    if failure is None:
                        response.success()
                    else:
                        response.failure(failure)
                    outcome = outcome_of(failure)
                if outcome == "ok" and poll is not None:
                    ctx.update(values or {})
                    outcome = poll_until(self, poll, first, ctx, label, deadline)
        except gevent.GreenletExit:
            outcome = "cut"  # the run stopped mid-attempt: it shows in flight, not failed
            raise
        finally:
            self.guard.end(retry, outcome)
            if outcome != "cut":
                sample = judgement.sample if judgement is not None and not judgement.ok else ""
                intent.end(record, time.time(), outcome, status, sample)
        return outcome

    def setup_for(self, request: LogicalRequest, intent: Intent) -> dict[str, Any] | None:
        """The intent's placeholder values after the user's and the intent's setup steps;
        None (the failure recorded on the intent as `setup_failed`) if a step failed."""
        context: dict[str, Any] = {
            "prompt": f"storm {request.key}",
            "key": request.key,
            "agent": request.agent,
        }
        for scope in ("user", "intent"):
            steps = self.workload.steps(scope)
            if not steps or (scope == "user" and self.user_ready):
                continue
            started = time.time()
            target = self.user_context if scope == "user" else context
            with self.in_flight():
                outcome = run_steps(self, steps, target)
            if outcome != "ok":
                intent.record(f"setup {scope}", started, time.time(), "setup_failed")
                return None
            self.user_ready = self.user_ready or scope == "user"
        return {**self.user_context, **context}


def _retryable(outcome: str) -> bool:
    return outcome in {"client_timeout", "duplicate_timeout", "throttled", "connection_error"}
