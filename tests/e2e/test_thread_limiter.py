"""anyio's thread limiter exhausted by sync duplicates: flagged on the built-in server and on
examples/thread_limiter_app.py, black-box (stacks) and probed (exact); the fixes cleared.

The sync health route is a finding of its own: the pinger sends it a check every 0.25 s beside
the storm, and the checks sent while the wedge held (by the limiter rule's own states) must go
unanswered, on every wedged form; on the fixes no check falls in a wedge, and all answer."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.new_hazards import MARKS, examples
from tests.e2e.new_hazards import builtin as run_builtin

pytestmark = MARKS
# A proven wedge ends its variant --grace after the flag; the limiter finding needs its
# exhaustion held for 2 s (EXHAUSTED_CONFIRM_S), which a 1 s grace left right at the bound.
GRACE = ("--grace", "3")


def test_thread_limiter(tmp_path: Path) -> None:
    builtin = run_builtin(tmp_path / "b", "thread_limiter", 8, ["sync_wait", "async_wait"], GRACE)
    assert (builtin["sync_wait"]["finding"], builtin["sync_wait"]["evidence"]) == (
        "wedged",
        "exact",
    )
    assert builtin["sync_wait"]["peak_borrowed"] == builtin["sync_wait"]["tokens_total"] == 40
    assert_health_failing(builtin["sync_wait"]["sync_health"], "exact")
    assert builtin["async_wait"]["finding"] == "clean"
    assert_health_answering(builtin["async_wait"]["sync_health"])

    found = examples(tmp_path, "thread_limiter", 8, "thread_limiter_app", "thread_limiter", GRACE)
    assert (found["buggy"]["finding"], found["buggy"]["evidence"]) == ("wedged", "stacks")
    assert found["buggy"]["anyio_parked"] == found["buggy"]["anyio_threads"] >= 40
    assert (found["probed_buggy"]["finding"], found["probed_buggy"]["evidence"]) == (
        "wedged",
        "exact",
    )
    assert_health_failing(found["buggy"]["sync_health"], "clients")
    assert_health_failing(found["probed_buggy"]["sync_health"], "exact")
    for name in ("fixed", "probed_fixed"):
        assert found[name]["finding"] == "clean", (name, found["verdict"])
        assert_health_answering(found[name]["sync_health"])
    assert found["probed_fixed"]["evidence"] == "exact"
    assert "AnyIO worker threads parked" in "\n".join(found["verdict"])
    assert "sync health route FAILING" in "\n".join(found["verdict"])


def assert_health_failing(health: dict, basis: str) -> None:
    """Checks were sent while the wedge held, and (the rule) at least half of them, at least
    one, went unanswered: a wedged sync route cannot get a token to answer with."""
    assert health["finding"] == "failing", health
    assert health["wedge_basis"] == basis and health["in_wedge"] >= 1, health
    assert 2 * health["unanswered_in_wedge"] >= health["in_wedge"], health


def assert_health_answering(health: dict) -> None:
    assert health["finding"] == "answering", health
    assert health["unanswered_in_wedge"] == 0 and health["asked"] > 0, health
