"""`--protocol adk` against google-adk's get_fast_api_app with a stub BaseLlm: a session per
attempt, then /run; a parked tool wedges, a raising one (HTTP 500) is failing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.protocol_storms import MARKS, failing, healthy, storms, trio, wedged

pytestmark = MARKS


@pytest.fixture(scope="module")
def adk(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    apps = trio("google-adk", "adk_app", "adk")
    return storms(tmp_path_factory.mktemp("adk"), "adk", apps)


def test_adk_session_per_attempt_then_run(adk: dict[str, Any]) -> None:
    healthy(adk["adk"])
    by_name = adk["adk"]["requests"]["by_name"]
    sessions = by_name["adk:setup [create session]"]["requests"]  # one per attempt
    runs = sum(v["requests"] for k, v in by_name.items() if k.startswith("adk:invoke ["))
    # Attempts still running when the storm ended made their session but no answer yet:
    # at most one per sender (4 users x 3 senders).
    assert 0 < runs <= sessions <= runs + 12, by_name
    wedged(adk["wedged"])
    failing(adk["failing"], "http_error")
