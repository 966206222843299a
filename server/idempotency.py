"""What an Idempotency-Key promises, beyond "one primary at a time per agent".

From the IETF httpapi idempotency-key draft and Stripe's API:

- A key names one request. The same key with a different body is the client's bug, answered
  422 naming the key, never with the first request's answer to someone else's prompt. Bodies
  are compared by fingerprint (SHA-256 of their canonical JSON).
- `throw` mode (Strands' THROW, the default): a key is known only while its primary runs;
  afterwards a retry with it runs the model again.
- `replay` mode: the first final answer per key is kept for `replay_ttl_s` and later retries
  get it back (role "replay"), so a late retry never runs the model twice. Answers that ask
  for a retry (429 throttled, 5xx) are not kept.

Either way the ledger counts duplicate side effects: a model run for a key whose model already
completed a run. Replay mode keeps that at 0 for as long as its answers live.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from stampede.server.inflight import Outcome

MAX_KEYS = 100_000  # per store: the oldest keys go first beyond this


@functools.lru_cache(maxsize=4096)  # a storm's duplicates and retries repeat one prompt
def fingerprint(prompt: str) -> str:
    canonical = json.dumps({"prompt": prompt}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def mismatch(agent_id: str, key: str) -> Outcome:
    return Outcome(
        422,
        {
            "error": "idempotency_key_reused",
            "message": f"Idempotency-Key {key!r} was first used on agent {agent_id!r} with a "
            "different request body",
            "agent_id": agent_id,
            "idempotency_key": key,
        },
    )


def storable(outcome: Outcome) -> bool:
    """Final answers only: a 429 or a 5xx tells the client to try again."""
    return outcome.status < 500 and outcome.status != 429


@dataclass
class _Stored:
    expires: float
    fingerprint: str
    outcome: Outcome | None  # None: the key is known (in flight, or ran) but has no answer


@dataclass
class IdempotencyLedger:
    mode: str = "throw"  # throw | replay
    ttl_s: float = 300.0
    max_keys: int = MAX_KEYS
    # (agent, key) -> fingerprint of the primary running now
    running: dict[tuple[str, str], str] = field(default_factory=dict)
    # (agent, key) -> answer kept for replay (replay mode)
    answers: OrderedDict[tuple[str, str], _Stored] = field(default_factory=OrderedDict)
    # (agent, key) -> completed model runs, for counting duplicate side effects (both modes)
    completed: OrderedDict[tuple[str, str], int] = field(default_factory=OrderedDict)
    duplicate_side_effects: int = 0
    replays: int = 0
    mismatches: int = 0
    clock: object = time.monotonic

    def _now(self) -> float:
        return float(self.clock())  # type: ignore[operator]

    def lookup(self, agent_id: str, key: str, fp: str) -> Outcome | None:
        """Before routing: the kept answer (replay mode), a 422 for a changed body, or None."""
        running = self.running.get((agent_id, key))
        if running is not None and running != fp:
            self.mismatches += 1
            return mismatch(agent_id, key)
        stored = self.answers.get((agent_id, key))
        if stored is None:
            return None
        if stored.expires <= self._now():
            del self.answers[(agent_id, key)]
            return None
        if stored.fingerprint != fp:
            self.mismatches += 1
            return mismatch(agent_id, key)
        if stored.outcome is None:
            return None
        self.replays += 1
        return Outcome(stored.outcome.status, {**stored.outcome.body, "role": "replay"})

    def started(self, agent_id: str, key: str, fp: str) -> bool:
        """A primary for this key is about to run the model; True: a duplicate side effect."""
        self.running[(agent_id, key)] = fp
        again = bool(self.completed.get((agent_id, key)))
        self.duplicate_side_effects += again
        return again

    def finished(self, agent_id: str, key: str, fp: str, outcome: Outcome) -> None:
        self.running.pop((agent_id, key), None)
        if outcome.ok:
            self._bump(self.completed, (agent_id, key))
        if self.mode == "replay" and storable(outcome):
            self.answers[(agent_id, key)] = _Stored(self._now() + self.ttl_s, fp, outcome)
            self.answers.move_to_end((agent_id, key))
            while len(self.answers) > self.max_keys:
                self.answers.popitem(last=False)

    def _bump(self, store: OrderedDict[tuple[str, str], int], item: tuple[str, str]) -> None:
        store[item] = store.get(item, 0) + 1
        store.move_to_end(item)
        while len(store) > self.max_keys:
            store.popitem(last=False)

    def status(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "replay_ttl_s": self.ttl_s,
            "kept_answers": len(self.answers),
            "replays": self.replays,
            "mismatches": self.mismatches,
            "duplicate_side_effects": self.duplicate_side_effects,
        }
