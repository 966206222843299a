"""The disconnect scenario on a POST SSE protocol: AG-UI's run streams, left early by each
client, on a command target compare starts and caps, as a user would run it."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.protocol_storms import MARKS, python_of, run

pytestmark = MARKS


def test_the_disconnect_scenario_leaves_ag_ui_post_streams_early(tmp_path: Path) -> None:
    """Its stream a POST whose SSE run (about a dozen events) each client leaves after
    --stream-drop-after 3."""
    python = python_of("pydantic-ai")
    command = f"{python} -m uvicorn examples.protocols.ag_ui_app:app --port {{port}}"
    flags = ["--protocol", "ag-ui", "--scenario", "stream", "--target", f"ag_ui={command}"]
    variant = run(tmp_path, flags)["variants"]["ag_ui"]
    assert variant["target"]["kind"] == "command" and not variant.get("error"), variant
    requests = variant["requests"]
    streams = {k: v for k, v in requests["by_name"].items() if k.startswith("ag_ui:stream [")}
    assert streams == {"ag_ui:stream [drop after 3]": streams.get("ag_ui:stream [drop after 3]")}
    assert streams["ag_ui:stream [drop after 3]"]["requests"] > 0, requests
    assert requests["failed"] == 0, requests
    assert variant["wedged"] is False
