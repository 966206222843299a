"""The one percentile definition: nearest rank, always an observed value."""

from __future__ import annotations

import math
import random

import pytest
from stampede.loadtest.verdict.stats import percentile


@pytest.mark.parametrize(
    ("q", "expected"),
    # The textbook nearest-rank example: ranks ceil(q/100 * 5) of 15, 20, 35, 40, 50.
    [(0, 15), (5, 15), (30, 20), (40, 20), (50, 35), (100, 50)],
)
def test_nearest_rank_definition(q: float, expected: float) -> None:
    assert percentile([50, 40, 35, 20, 15], q) == expected  # input order does not matter


def test_tail_is_never_interpolated() -> None:
    assert percentile(range(1, 11), 99) == 10  # fewer than 100 samples: p99 is the worst one
    assert percentile(range(1, 101), 99) == 99
    assert percentile(range(1, 101), 50) == 50  # the lower middle, not the mean 50.5
    assert percentile([1.0, 2.0], 50) == 1.0
    assert percentile(range(1, 1001), 99.9) == 999  # exact rank, no float round-up to 1000


def test_matches_the_definition_on_random_samples() -> None:
    rng = random.Random(7)
    for _ in range(300):
        values = [rng.randint(0, 50) for _ in range(rng.randint(1, 40))]
        q = rng.choice([1, 10, 25, 50, 75, 90, 95, 99, 100, rng.uniform(0, 100)])
        p = percentile(values, q)
        n = len(values)
        assert p in values
        # At least q% of the values are <= p, and fewer than q% are < p.
        assert sum(v <= p for v in values) >= math.ceil(q * n / 100 - 1e-9)
        assert sum(v < p for v in values) < max(1, math.ceil(q * n / 100 - 1e-9))


@pytest.mark.parametrize(("values", "q"), [([], 50), ([1.0], -1), ([1.0], 100.5)])
def test_bad_input_is_refused(values: list[float], q: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        percentile(values, q)
