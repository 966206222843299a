"""`--protocol agentcore` against bedrock-agentcore's BedrockAgentCoreApp: invocations carry
the session header; a parked tool wedges, a raising handler (HTTP 500) is failing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.protocol_storms import MARKS, failing, healthy, storms, trio, wedged

pytestmark = MARKS


@pytest.fixture(scope="module")
def agentcore(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    apps = trio("bedrock-agentcore", "agentcore_app", "agentcore")
    return storms(tmp_path_factory.mktemp("agentcore"), "agentcore", apps)


def test_agentcore_invocations_with_the_session_header(agentcore: dict[str, Any]) -> None:
    healthy(agentcore["agentcore"])
    wedged(agentcore["wedged"])
    failing(agentcore["failing"], "http_error")  # BedrockAgentCoreApp answers a raise with 500
