"""A stub Bedrock-style model: a blocking `converse()` with seeded latency and throttling.

Like boto3's bedrock-runtime client, the call blocks its thread for the whole request, which
is why agent SDKs run it with `asyncio.to_thread` and why it needs a free executor worker.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

TOKENS_PER_TURN_CHARS = 64


class ModelThrottledError(Exception):
    """Bedrock's ThrottlingException, as the SDKs surface it."""

    status_code = 429
    code = "ThrottlingException"


@dataclass
class StubBedrockModel:
    latency_ms: float = 500.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    seed: int = 0
    tool_turns: int = 1
    model_id: str = "stub.anthropic-claude-v0"
    # A capacity drop on demand (the phased storm's slow-model trigger, server/control.py).
    latency_factor: float = 1.0
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def _draw(self) -> tuple[float, bool]:
        # One lock-guarded draw per call keeps a seeded run's sequence reproducible.
        with self._lock:
            jitter = self._rng.uniform(0, self.jitter_ms) if self.jitter_ms else 0.0
            fail = self.error_rate > 0 and self._rng.random() < self.error_rate
        return (self.latency_ms + jitter) * self.latency_factor / 1000.0, fail

    def converse(
        self, messages: list[dict[str, Any]], tools: list[str] | None = None
    ) -> dict[str, Any]:
        """Block for the model's latency, then answer in Bedrock's Converse shape."""
        delay, fail = self._draw()
        started = time.monotonic()
        if delay > 0:
            # Not at zero: sleep(0) still drops the GIL and queues for it again behind the loop.
            time.sleep(delay)
        if fail:
            raise ModelThrottledError("ThrottlingException: Too many requests, please wait.")
        turn = sum(1 for m in messages if m["role"] == "assistant")
        prompt = messages[0]["content"][0]["text"]
        content: list[dict[str, Any]]
        if tools and turn < self.tool_turns:
            content = [{"toolUse": {"toolUseId": f"tooluse_{turn}", "name": tools[0], "input": {}}}]
            stop = "tool_use"
        else:
            content = [{"text": f"Answer to {prompt[:64]!r} after {turn + 1} model call(s)."}]
            stop = "end_turn"
        # A rough estimate, like a tokenizer's: the prompt's characters, plus a flat share per
        # later message (rendering every message to a string cost more than the answer).
        tokens_in = (len(prompt) + TOKENS_PER_TURN_CHARS * (len(messages) - 1)) // 4 + 1
        return {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop,
            "usage": {
                "inputTokens": tokens_in,
                "outputTokens": 16,
                "totalTokens": tokens_in + 16,
            },
            "metrics": {"latencyMs": int((time.monotonic() - started) * 1000)},
        }
