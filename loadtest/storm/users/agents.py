"""The agent pool a storm draws from: names made on demand and Zipf weights computed once.

With `--users 10000 --agents 100000`, a name list and a weight list per user would hold two
billion objects. `AgentPool` indexes like the list it replaces and `zipf_cum_weights` is cached
per process, so each user costs O(1) and the seeded schedule is unchanged: `rng.choice(pool)`
and `rng.choices(pool, cum_weights=...)` draw exactly what they drew from the eager lists.
No Locust import here, so tests can use it without gevent's monkey-patching.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import overload


class AgentPool(Sequence[str]):
    """The names agent-000 .. agent-(n-1), made on demand: with --users 10000 --agents 100000 a
    list per user would hold a billion strings. Indexing matches the list it replaces, so
    `rng.choice(pool)` draws exactly what it drew from that list (same seeded schedule)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.size))]
        if not -self.size <= index < self.size:
            raise IndexError(index)
        return f"agent-{index % self.size:03d}"


@functools.cache
def zipf_cum_weights(size: int) -> tuple[float, ...]:
    """Cumulative Zipf weights (1/rank) of a pool, computed once per process, not per user;
    `rng.choices(pool, cum_weights=...)` draws what `weights=[1/rank...]` drew."""
    return tuple(itertools.accumulate(1.0 / (rank + 1) for rank in range(size)))
