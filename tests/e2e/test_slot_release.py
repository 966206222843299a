"""A capacity slot not released on cancellation: leaking on the built-in server and on
examples/slot_limiter.py, by the clients' figures and by the probe; the fixes cleared."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.new_hazards import MARKS, examples
from tests.e2e.new_hazards import builtin as run_builtin

pytestmark = MARKS


def test_slot_release(tmp_path: Path) -> None:
    builtin = run_builtin(
        tmp_path / "b", "slot_release", 4, ["release_on_return", "release_finally"]
    )
    leak, fixed = builtin["release_on_return"], builtin["release_finally"]
    assert (leak["finding"], leak["evidence"]) == ("leaking", "exact")
    assert leak["idle"] >= 3 and leak["idle_intervals"] >= 3
    assert (fixed["finding"], fixed["total"]) == ("clean", 0)

    found = examples(tmp_path, "slot_release", 4, "slot_limiter", "slot_limiter")
    assert (found["buggy"]["finding"], found["buggy"]["evidence"]) == ("leaking", "clients")
    assert found["buggy"]["idle"] >= 3
    assert (found["probed_buggy"]["finding"], found["probed_buggy"]["evidence"]) == (
        "leaking",
        "exact",
    )
    for name in ("fixed", "probed_fixed"):
        assert (found[name]["finding"], found[name]["total"]) == ("clean", 0), name
