"""`stampede compare --protocol NAME` against the real server packages, one storm per preset.

Each preset storms the user-style apps of examples/protocols/ in their own cached venvs
(loadtest/targets/protocol_envs.py): the healthy app, a variant whose tool parks a worker thread
on an Event shared by duplicates, and one whose handler raises. The checks are on what
summary.json gives: the wedge claim, requests ok / failed by kind, and the intents' success
ratio, which counts the protocol's own terminal answer (a polled A2A task, AG-UI's
RUN_FINISHED, an MCP result without an error).

One storm per preset (module-scoped), three seconds of load each, so the file stays within its
time budget; the disconnect scenario runs once, on MCP's POST SSE streams.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from stampede.loadtest.targets import protocol_envs

from tests.serverproc import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
STORM = ["--duration", "3", "--users", "4", "--stall-seconds", "1.5", "--grace", "1"]


@cache
def python_of(env: str) -> str:
    return str(protocol_envs.ensure(env, lambda message: print(message, file=sys.stderr)))


def compare(
    out: Path, protocol: str, env: str, targets: dict[str, str], extra: list[str] | None = None
) -> dict[str, Any]:
    python = python_of(env)
    argv = [sys.executable, "-m", "stampede", "compare", *STORM, "--out", str(out)]
    argv += ["--protocol", protocol, "--no-progress", "--wait", "900", *(extra or [])]
    for name, app in targets.items():
        argv += ["--target", f"{name}={python} -m uvicorn examples.protocols.{app} --port {{port}}"]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1100)
    summary = json.loads((out / "latest" / "summary.json").read_text())
    assert summary["complete"], proc.stdout[-2000:] + proc.stderr[-2000:]
    return summary


def healthy(variant: dict[str, Any]) -> None:
    """Not wedged, every request ok, every counted intent succeeded."""
    assert variant["wedged"] is False, variant
    assert variant["requests"]["ok"] > 0 and variant["requests"]["failed"] == 0, variant["requests"]
    intents = variant["intents"]
    assert intents["succeeded"] > 0 and intents["success_ratio"] == 1.0, intents


def wedged(variant: dict[str, Any]) -> None:
    assert variant["wedged"] is True, (variant["wedged"], variant["wedge_evidence"])
    assert variant["wedge_evidence"] in ("stacks", "stall")


def failing(variant: dict[str, Any], kind: str) -> None:
    """Not wedged; its answers come back, and they are the protocol's failures of `kind`."""
    assert variant["wedged"] is False, variant
    intents = variant["intents"]
    assert intents["counted"] > 0 and intents["succeeded"] == 0, intents
    assert intents["failed_by_kind"].get(kind, 0) == intents["failed"] > 0, intents
    assert variant["requests"]["failed_by_kind"].get(kind, 0) > 0, variant["requests"]


@pytest.fixture(scope="module")
def mcp(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return compare(
        tmp_path_factory.mktemp("mcp"),
        "mcp",
        "mcp",
        {
            "sse": "mcp_app:app",
            "stateless_json": "mcp_app:stateless_json_app",
            "wedged": "mcp_app:wedged_app",
            "failing": "mcp_app:failing_app",
        },
    )["variants"]


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


@pytest.fixture(scope="module")
def a2a(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("a2a")
    fasta2a = compare(
        out / "fasta2a",
        "a2a",
        "pydantic-ai",
        {
            "fasta2a": "fasta2a_app:app",
            "wedged": "fasta2a_app:wedged_app",
            "failing": "fasta2a_app:failing_app",
        },
    )["variants"]
    sdk = compare(
        out / "sdk",
        "a2a",
        "a2a-sdk",
        {"a2a_sdk": "a2a_sdk_app:app", "sdk_failing": "a2a_sdk_app:failing_app"},
    )["variants"]
    return {**fasta2a, **sdk}


def test_a2a_success_is_the_polled_task_not_the_acknowledgement(a2a: dict[str, Any]) -> None:
    for name in ("fasta2a", "a2a_sdk"):
        healthy(a2a[name])
        polls = a2a[name]["requests"]["by_name"]
        assert sum(v["requests"] for k, v in polls.items() if ":poll [" in k) > 0, polls
    wedged(a2a["wedged"])
    # SendMessage is acknowledged ("submitted") every time; the polled task fails.
    for name in ("failing", "sdk_failing"):
        failing(a2a[name], "poll_failed")
        invokes = a2a[name]["requests"]["by_name"]
        assert all(v["failed"] == 0 for k, v in invokes.items() if ":invoke [" in k), invokes


@pytest.fixture(scope="module")
def ag_ui(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return compare(
        tmp_path_factory.mktemp("ag_ui"),
        "ag-ui",
        "pydantic-ai",
        {
            "ag_ui": "ag_ui_app:app",
            "wedged": "ag_ui_app:wedged_app",
            "failing": "ag_ui_app:failing_app",
        },
    )["variants"]


def test_ag_ui_success_is_run_finished(ag_ui: dict[str, Any]) -> None:
    healthy(ag_ui["ag_ui"])
    wedged(ag_ui["wedged"])
    failing(ag_ui["failing"], "sse_failed")  # a 200 stream that ends with RUN_ERROR


@pytest.fixture(scope="module")
def agentcore(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return compare(
        tmp_path_factory.mktemp("agentcore"),
        "agentcore",
        "bedrock-agentcore",
        {
            "agentcore": "agentcore_app:app",
            "wedged": "agentcore_app:wedged_app",
            "failing": "agentcore_app:failing_app",
        },
        ["--health-path", "/ping"],
    )["variants"]


def test_agentcore_invocations_with_the_session_header(agentcore: dict[str, Any]) -> None:
    healthy(agentcore["agentcore"])
    wedged(agentcore["wedged"])
    failing(agentcore["failing"], "http_error")  # BedrockAgentCoreApp answers a raise with 500


@pytest.fixture(scope="module")
def adk(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return compare(
        tmp_path_factory.mktemp("adk"),
        "adk",
        "google-adk",
        {"adk": "adk_app:app", "wedged": "adk_app:wedged_app", "failing": "adk_app:failing_app"},
    )["variants"]


def test_adk_session_per_intent_then_run(adk: dict[str, Any]) -> None:
    healthy(adk["adk"])
    by_name = adk["adk"]["requests"]["by_name"]
    sessions = by_name["adk:setup [create session]"]["requests"]
    assert sessions == adk["adk"]["intents"]["started"], (sessions, adk["adk"]["intents"])
    wedged(adk["wedged"])
    failing(adk["failing"], "http_error")


def test_the_disconnect_scenario_leaves_mcp_post_streams_early(tmp_path: Path) -> None:
    variants = compare(tmp_path, "mcp", "mcp", {"sse": "mcp_app:app"}, ["--scenario", "stream"])[
        "variants"
    ]
    requests = variants["sse"]["requests"]
    streams = {k: v for k, v in requests["by_name"].items() if k.startswith("sse:stream [")}
    assert sum(v["requests"] for v in streams.values()) > 0, requests["by_name"]
    assert requests["failed"] == 0, requests
