"""A storm as a test: `pytest examples/test_stampede_storm.py` (a few seconds per storm).

The marker storms the target before the test and fails it, in the verdict's words, when a gate
fails (by default: the target wedged); the `stampede_storm` fixture hands the test the summary
so it can assert more. Without the marker, `stampede_storm` is a function to call.
"""

from __future__ import annotations

import pytest


@pytest.mark.stampede("examples.idempotency_cache:fixed_app", duration=3, users=4)
def test_the_fixed_cache_survives_a_retry_storm(stampede_storm) -> None:
    assert stampede_storm.state == "healthy"
    assert stampede_storm.wedged is False
    assert stampede_storm.requests_ok > 0
    assert not stampede_storm.loop_errors


def test_the_to_thread_cache_wedges(stampede_storm) -> None:
    # gates=() lets the test look at a wedge instead of failing on it.
    summary = stampede_storm("examples.idempotency_cache:app", duration=3, gates=())
    assert summary.wedged is True
    assert summary.evidence == "stacks"  # black box: py-spy saw the parked workers
    assert summary.report.exists()
