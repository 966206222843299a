"""The retry storm on idempotent invocations (seed 001).

Each logical request gets an idempotency key and an agent drawn from a skewed pool, so
storms collide on hot agents. K senders fan the same key out at once (SDK retry + gateway
retry + app retry); each sender retries on timeouts with the same key, per the retry policy.
Attempts are named by intent: `invoke [primary]` is sender 0's first attempt, `invoke [dup]`
the other senders' first attempts, `invoke [retry]` every later attempt.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import gevent
from gevent.pool import Group
from locust import task
from stampede.loadtest.users.base import StormUser
from stampede.loadtest.users.outcomes import StormFailure, classify
from stampede.loadtest.users.retry import attempts, backoff_s, max_backoff_s

FANOUT_STAGGER_S = 0.02  # layers retrying "at once" still arrive a few ms apart
TEARDOWN_S = 1.0


@dataclass(frozen=True)
class LogicalRequest:
    agent: str
    key: str


class IdempotencyStormUser(StormUser):
    """One logical request at a time, fanned out to --duplicates concurrent senders."""

    def on_start(self) -> None:
        self.sent = 0
        count = self.options.agents
        self.agents = [f"agent-{i:03d}" for i in range(count)]
        self.agent_weights = [1.0 / (rank + 1) for rank in range(count)]  # Zipf: hot agents

    @task
    def storm(self) -> None:
        request = self.next_request()
        group = Group()
        for sender in range(self.options.duplicates):
            group.spawn(self.send, request, sender)
        group.join(timeout=self.budget_s())
        group.kill(block=True, timeout=TEARDOWN_S)  # only stragglers past the bound

    def next_request(self) -> LogicalRequest:
        self.sent += 1
        agent = self.rng.choices(self.agents, weights=self.agent_weights)[0]
        key = f"s{self.options.seed}-w{self.worker}-u{self.slot}-r{self.sent}"
        return LogicalRequest(agent=agent, key=key)

    def budget_s(self) -> float:
        o = self.options
        tries = attempts(o.retry_policy, o.max_retries)
        per_try = o.client_timeout + 0.5
        return (
            FANOUT_STAGGER_S
            + tries * per_try
            + (tries - 1) * max_backoff_s(o.retry_policy, o.retry_base)
        )

    def send(self, request: LogicalRequest, sender: int) -> None:
        o = self.options
        rng = random.Random(f"{request.key}:{sender}")
        if sender:
            gevent.sleep(rng.uniform(0.0, FANOUT_STAGGER_S))
        tries = attempts(o.retry_policy, o.max_retries)
        for attempt in range(tries):
            label = "retry" if attempt else ("primary" if sender == 0 else "dup")
            failure = self.attempt(request, label)
            if failure is None or not failure.retryable or attempt + 1 == tries:
                return
            gevent.sleep(backoff_s(o.retry_policy, attempt + 1, o.retry_base, rng))

    def attempt(self, request: LogicalRequest, label: str) -> StormFailure | None:
        invoke = self.workload.invoke
        with (
            self.in_flight(),
            self.client.request(
                invoke.method,
                self.workload.invoke_path(request.agent),
                json=self.workload.invoke_body(f"storm {request.key}"),
                headers={invoke.idempotency_header: request.key},
                name=f"{self.name_prefix}invoke [{label}]",
                catch_response=True,
            ) as response,
        ):
            failure = classify(response, self.workload)
            if failure is None:
                response.success()
            else:
                response.failure(failure)
            return failure
