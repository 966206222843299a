"""`--protocol a2a` against pydantic-ai's fasta2a server (TestModel): success is the polled
task, not the "submitted" acknowledgement; a tool parking a worker on a shared Event wedges."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.protocol_storms import MARKS, healthy, storms, wedged

pytestmark = MARKS


@pytest.fixture(scope="module")
def fasta2a(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    apps = {
        "fasta2a": ("pydantic-ai", "fasta2a_app:app"),
        "wedged": ("pydantic-ai", "fasta2a_app:wedged_app"),
    }
    return storms(tmp_path_factory.mktemp("fasta2a"), "a2a", apps)


def test_fasta2a_success_is_the_polled_task_and_a_parked_tool_wedges(
    fasta2a: dict[str, Any],
) -> None:
    # fasta2a's in-memory broker runs one task at a time: a storm that keeps enough sends in
    # flight sees its staircase of completions, and the true state is serialized.
    healthy(fasta2a["fasta2a"], ("healthy", "serialized"))
    polls = fasta2a["fasta2a"]["requests"]["by_name"]
    assert sum(v["requests"] for k, v in polls.items() if ":poll [" in k) > 0, polls
    wedged(fasta2a["wedged"])
