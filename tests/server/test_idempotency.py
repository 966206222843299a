"""Idempotency-key semantics: a changed body is a 422, replay mode never runs a key twice."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from stampede.server.idempotency import IdempotencyLedger, fingerprint
from stampede.server.inflight import Outcome
from stampede.server.invocations import InvocationService
from stampede.server.model import StubBedrockModel
from stampede.server.telemetry import Telemetry
from stampede.server.waiters import make_waiter

INTENTS = 10_000
AGENTS = 100


async def storm(mode: str, intents: int = INTENTS) -> tuple[InvocationService, list[Outcome]]:
    """Every intent: a primary and a concurrent duplicate, then a late retry after both."""
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(8))
    service = InvocationService(
        model=StubBedrockModel(latency_ms=0, tool_turns=0),
        waiter=make_waiter("future"),
        telemetry=Telemetry(),
        ledger=IdempotencyLedger(mode=mode),
    )

    async def intent(n: int) -> list[Outcome]:
        agent, key = f"agent-{n % AGENTS}", f"k{n}"
        first = await asyncio.gather(*(service.invoke(agent, key, f"p{n}") for _ in range(2)))
        return [*first, await service.invoke(agent, key, f"p{n}")]

    outcomes: list[Outcome] = []
    for start in range(0, intents, AGENTS):  # one intent per agent at a time: no 409s
        batches = await asyncio.gather(*(intent(n) for n in range(start, start + AGENTS)))
        outcomes += [o for batch in batches for o in batch]
    return service, outcomes


def test_replay_mode_runs_no_key_twice_over_10000_duplicated_intents() -> None:
    service, outcomes = asyncio.run(storm("replay"))
    assert len(outcomes) == 3 * INTENTS and all(o.status == 200 for o in outcomes)
    roles = [o.body["role"] for o in outcomes]
    assert roles.count("replay") == INTENTS  # every late retry, answered from the store
    assert service.ledger.duplicate_side_effects == 0
    assert service.telemetry.duplicate_side_effects._value.get() == 0
    # The same storm in throw mode re-runs every late retry: the counter can count.
    throw, _ = asyncio.run(storm("throw", 1000))
    assert throw.ledger.duplicate_side_effects == 1000


def test_replayed_answer_is_the_first_one_until_its_ttl() -> None:
    now = [0.0]
    ledger = IdempotencyLedger(mode="replay", ttl_s=10, clock=lambda: now[0])
    fp = fingerprint("hi")
    assert ledger.lookup("a", "k", fp) is None
    assert ledger.started("a", "k", fp) is False
    ledger.finished("a", "k", fp, Outcome(200, {"text": "answer", "role": "primary"}))
    now[0] = 9.9
    assert ledger.lookup("a", "k", fp) == Outcome(200, {"text": "answer", "role": "replay"})
    assert ledger.lookup("a", "k", fingerprint("other")).status == 422
    now[0] = 10.0  # expired: the next retry runs the model again, a duplicate side effect
    assert ledger.lookup("a", "k", fp) is None
    assert ledger.started("a", "k", fp) is True and ledger.duplicate_side_effects == 1
    # Answers that ask for a retry are never kept.
    ledger.finished("a", "t", fp, Outcome(429, {"error": "model_throttled"}))
    assert ledger.lookup("a", "t", fp) is None


@pytest.mark.parametrize("mode", ["throw", "replay"])
def test_same_key_with_another_body_is_422_naming_the_key(server_factory, mode: str) -> None:
    server = server_factory(waiter="future", model_latency_ms=300, idempotency_mode=mode)
    url = f"{server.url}/v1/agents/a/invocations"
    headers = {"Idempotency-Key": "order-17"}
    with httpx.Client(timeout=10) as http, ThreadPoolExecutor(2) as pool:
        primary = pool.submit(http.post, url, json={"prompt": "buy one"}, headers=headers)
        time.sleep(0.15)  # the primary is in flight
        changed = http.post(url, json={"prompt": "buy ten"}, headers=headers)
        assert primary.result().status_code == 200
        assert changed.status_code == 422
        body = changed.json()
        assert body["error"] == "idempotency_key_reused" and "'order-17'" in body["message"]
        later = http.post(url, json={"prompt": "buy one"}, headers=headers)
        status = http.get(f"{server.url}/v1/status").json()["idempotency"]
    assert status["mode"] == mode and status["mismatches"] == 1
    if mode == "replay":  # the late retry got the first answer back, the model ran once
        assert later.json()["role"] == "replay"
        assert later.json()["text"] == primary.result().json()["text"]
        assert status["duplicate_side_effects"] == 0
    else:  # throw: the key was forgotten, the model ran again
        assert later.json()["role"] == "primary"
        assert status["duplicate_side_effects"] == 1
    metrics = httpx.get(f"{server.url}/metrics").text
    assert f"stampede_duplicate_side_effects_total {1.0 if mode == 'throw' else 0.0}" in metrics
