"""Percentiles: the one definition every latency figure Stampede computes itself uses.

Nearest rank: the q-th percentile of n values is the smallest value that at least q% of the
values do not exceed, i.e. the value of rank ceil(q/100 * n) in ascending order. It is always
a value that was observed, never an interpolation between two, so with fewer than 100 samples
p99 is the worst one: a latency report that says "p99" never understates the tail it saw.
(Locust's own percentiles in summary.json are Locust's; they come from its CSVs as written.)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction


def percentile(values: Iterable[float], q: float) -> float:
    """The nearest-rank `q`-th percentile (0 <= q <= 100) of `values`; p0 is the minimum.

    ValueError for no values or a q outside 0..100.
    """
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be in 0..100, got {q!r}")
    # Exact arithmetic: 99.9% of 1000 is rank 999, not 1000 by a float rounding up.
    rank = math.ceil(Fraction(str(q)) * len(ordered) / 100)
    return ordered[max(rank, 1) - 1]
