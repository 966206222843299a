"""The plugin against pyleak and blockbuster on the same hazard cases, measured.

Every case passes under plain pytest (the hazard hides); the plugin must catch every case that
either tool catches, plus the to_thread wedge that neither can see, and pass the control.
"""

from __future__ import annotations

import pytest

from tests.pytest_plugin.side_by_side import ROWS, TOOLS, run_tool, table

pytestmark = pytest.mark.timeout(300)
HAZARDS = [name for name in ROWS if name != "test_healthy_control"]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    workdir = tmp_path_factory.mktemp("side-by-side")
    return {tool: run_tool(tool, workdir) for tool in TOOLS}


def test_every_case_passes_without_a_checker(results: dict[str, dict[str, str]]) -> None:
    assert results["plain pytest"] == dict.fromkeys(ROWS, "passed")


def test_the_plugin_catches_what_either_tool_catches_and_the_wedge(
    results: dict[str, dict[str, str]],
) -> None:
    print("\n" + table(results))
    caught = {tool: {t for t in HAZARDS if results[tool][t] == "failed"} for tool in TOOLS}
    assert caught["pyleak"] | caught["blockbuster"] <= caught["stampede"], table(results)
    assert "test_to_thread_wedge" in caught["stampede"]
    assert "test_to_thread_wedge" not in caught["pyleak"] | caught["blockbuster"]
    assert results["stampede"]["test_healthy_control"] == "passed"
    assert set(results["stampede"]) == set(ROWS)  # every case ran
