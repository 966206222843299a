"""The storm's agent pool: O(1) per user however large, and the same seeded draws as the eager
name and weight lists it replaced (so a schedule recorded before still replays)."""

from __future__ import annotations

import random
import tracemalloc

import pytest
from stampede.loadtest.storm.users.agents import AgentPool, zipf_cum_weights


@pytest.mark.parametrize("size", [1, 4, 8, 1000])
def test_draws_match_the_eager_lists(size: int) -> None:
    names = [f"agent-{i:03d}" for i in range(size)]
    weights = [1.0 / (rank + 1) for rank in range(size)]
    eager, lazy = random.Random(f"seed-{size}"), random.Random(f"seed-{size}")
    pool, cum = AgentPool(size), zipf_cum_weights(size)
    for _ in range(500):
        assert eager.choices(names, weights=weights)[0] == lazy.choices(pool, cum_weights=cum)[0]
        assert eager.choice(names) == lazy.choice(pool)
    assert list(pool) == names and pool[-1] == names[-1] and pool[1:3] == names[1:3]
    with pytest.raises(IndexError):
        pool[size]


def test_ten_thousand_users_of_a_hundred_thousand_agents_stay_small() -> None:
    tracemalloc.start()
    try:
        weights = zipf_cum_weights(100_000)  # once per process
        users = [(AgentPool(100_000), zipf_cum_weights(100_000)) for _ in range(10_000)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert all(w is weights for _, w in users)
    # Eager lists would be 2 x 10^9 objects (tens of GB); the shared weights are ~3 MB.
    assert peak < 16 << 20, f"{peak / 2**20:.1f} MiB"
