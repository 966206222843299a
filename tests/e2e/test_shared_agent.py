"""One agent raced by overlapping requests: failing only on overlap, and broken for good, on the
built-in server and examples/shared_agent_app.py; one agent per session is clean, a lock refuses."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.new_hazards import MARKS, examples
from tests.e2e.new_hazards import builtin as run_builtin

pytestmark = MARKS


def test_shared_agent(tmp_path: Path) -> None:
    builtin = run_builtin(tmp_path / "b", "shared_agent", 1, ["shared", "per_session", "locked"])
    raced = builtin["shared"]
    assert raced["finding"] == "failing" and raced["only_on_overlap"]
    assert raced["before"]["failed"] == 0 and raced["overlap_faults"] > 0
    assert raced["broken_for_good"] and raced["corrupted_answers"] > 0
    assert builtin["per_session"]["finding"] == "clean"
    assert builtin["locked"]["finding"] == "refusing"
    assert builtin["locked"]["overlap_conflicts"] > 0 and builtin["locked"]["overlap_faults"] == 0

    found = examples(tmp_path, "shared_agent", 1, "shared_agent_app", "shared_agent")
    for name in ("buggy", "probed_buggy"):
        assert found[name]["finding"] == "failing" and found[name]["only_on_overlap"], name
    for name in ("fixed", "probed_fixed"):
        assert found[name]["finding"] == "clean", name
        assert found[name]["overlap"]["requests"] > 0
