"""`--protocol ag-ui` against pydantic-ai's AG-UI adapter: success is RUN_FINISHED, a stream
that ends with RUN_ERROR is failing, a tool parking a worker on a shared Event wedges."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.protocol_storms import MARKS, failing, healthy, storms, trio, wedged

pytestmark = MARKS


@pytest.fixture(scope="module")
def ag_ui(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    apps = trio("pydantic-ai", "ag_ui_app", "ag_ui")
    return storms(tmp_path_factory.mktemp("ag_ui"), "ag-ui", apps)


def test_ag_ui_success_is_run_finished(ag_ui: dict[str, Any]) -> None:
    healthy(ag_ui["ag_ui"])
    wedged(ag_ui["wedged"])
    failing(ag_ui["failing"], "sse_failed")  # a 200 stream that ends with RUN_ERROR
