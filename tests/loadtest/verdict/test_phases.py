"""Recovery read from goodput buckets: back within 10% of baseline and staying there."""

from __future__ import annotations

from stampede.loadtest.verdict.phases import recovery, summarize_phases


def test_recovery_is_the_start_of_the_good_stretch_that_lasts() -> None:
    #          baseline 0-5 | trigger 5-8 | recovery 8-16
    buckets = [10, 10, 10, 10, 10, 2, 1, 0, 4, 9, 10, 6, 10, 10, 10, 10]
    # 8..: windows from 8 are [4,9,10]=7.7 (no), [9,10,6]=8.3 (no), [10,6,10]=8.7 (no),
    # [6,10,10]=8.7 (no), [10,10,10] from 12 on (yes): 4 s after the trigger ended.
    assert recovery(buckets, 8, 16, 10.0) == 4.0
    assert recovery([10] * 5 + [0] * 11, 8, 16, 10.0) is None  # never came back
    assert recovery(buckets[:8] + [10] * 8, 8, 16, 10.0) == 0.0  # at once


def row(n: int, intended: float, answered: float | None) -> dict:
    return {
        "id": f"k{n}",
        "intended": intended,
        "started": intended,
        "attempts": [["primary", intended, answered or intended + 1, "ok" if answered else "x"]],
        "succeeded": answered,
        "ended": answered or intended + 1,
        "outcome": "succeeded" if answered else "failed",
        "kind": None if answered else "x",
    }


def test_phases_from_intents_a_wedge_that_never_recovers() -> None:
    meta = {
        "t0": 100.0,
        "client_timeout": 1.0,
        "phases": [["baseline", 0, 6], ["trigger", 6, 8], ["recovery", 8, 16]],
        "trigger": "slow-model:5x",
        "stopped_at": 116.0,
    }
    rows = []
    for tenth in range(160):  # 10 intents/s; answered in 0.2 s until the wedge at t = 7
        t = tenth / 10
        rows.append(row(tenth, 100 + t, 100 + t + 0.2 if t < 7 else None))
    phases = summarize_phases(meta, rows)
    assert phases is not None
    assert phases["baseline_goodput_per_s"] == 10.0
    assert phases["by_phase"]["baseline"]["success_ratio"] == 1.0
    assert phases["by_phase"]["recovery"]["goodput_per_s"] == 0.0
    assert phases["recovered"] is False and phases["recovery_s"] is None
    # The same storm that comes back after the trigger recovers, at once.
    healed = [row(i, r["intended"], r["intended"] + 0.2) for i, r in enumerate(rows)]
    phases = summarize_phases(meta, healed)
    assert phases is not None and phases["recovered"] is True and phases["recovery_s"] == 0.0
