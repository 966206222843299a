"""`--protocol mcp` against the `mcp` package's streamable HTTP server: SSE and stateless JSON
modes are healthy, a tool parking a worker on a shared Event is wedged, a raising tool fails."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.protocol_storms import MARKS, failing, healthy, storms, wedged

pytestmark = MARKS


@pytest.fixture(scope="module")
def mcp(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("mcp")
    modes = {"sse": ("mcp", "mcp_app:app"), "stateless_json": ("mcp", "mcp_app:stateless_json_app")}
    broken = {"wedged": ("mcp", "mcp_app:wedged_app"), "failing": ("mcp", "mcp_app:failing_app")}
    return storms(out, "mcp", {**modes, **broken})


def test_mcp_streamable_http_json_and_sse_stateful_and_stateless(mcp: dict[str, Any]) -> None:
    for name in ("sse", "stateless_json"):
        healthy(mcp[name])
        # Every user initialized once: two setup requests each, all ok.
        by_name = mcp[name]["requests"]["by_name"]
        assert by_name[f"{name}:setup [initialize]"]["failed"] == 0
        assert by_name[f"{name}:setup [initialize]"]["requests"] >= 1
    wedged(mcp["wedged"])
    # The tool raises: MCP answers 200 with isError true, which is not a success.
    failing(mcp["failing"], "json_check")
