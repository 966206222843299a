"""`--protocol a2a` against a2a-sdk's Starlette app with an echo executor: healthy, and a
failing executor is failing by the polled task although every send is acknowledged."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.protocol_storms import MARKS, failing, healthy, storms

pytestmark = MARKS


@pytest.fixture(scope="module")
def a2a_sdk(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    apps = {
        "a2a_sdk": ("a2a-sdk", "a2a_sdk_app:app"),
        "sdk_failing": ("a2a-sdk", "a2a_sdk_app:failing_app"),
    }
    return storms(tmp_path_factory.mktemp("a2a_sdk"), "a2a", apps)


def test_a2a_sdk_success_is_the_polled_task_not_the_acknowledgement(
    a2a_sdk: dict[str, Any],
) -> None:
    healthy(a2a_sdk["a2a_sdk"])
    polls = a2a_sdk["a2a_sdk"]["requests"]["by_name"]
    assert sum(v["requests"] for k, v in polls.items() if ":poll [" in k) > 0, polls
    # SendMessage is acknowledged ("submitted") every time; the polled task fails.
    failing(a2a_sdk["sdk_failing"], "poll_failed")
    invokes = a2a_sdk["sdk_failing"]["requests"]["by_name"]
    assert all(v["failed"] == 0 for k, v in invokes.items() if ":invoke [" in k), invokes
