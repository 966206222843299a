"""The real SDKs in user-style apps, as command targets, at the releases `compare --sdk` uses.

examples/acp_bridge.py bridges a WebSocket to agent-client-protocol's `run_agent`;
examples/strands_app.py serves strands-agents' `Agent` with idempotent invocations. Each runs
with its release's own interpreter (the cached SDK environments), no Stampede code inside:
acp 0.8.1's leaked connection tasks show up in its stderr, 0.12.1 is clean, and neither strands
release (both have the future waiter) wedges.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from stampede.loadtest.targets.sdk_envs import parse_spec, prepare

from tests.serverproc import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def python_of(spec: str) -> str:
    """The interpreter of the release's cached environment (made on first use)."""
    parsed = parse_spec(spec)
    return str(prepare((parsed,), lambda message: None)[str(parsed)])


def compare(out: Path, scenario: str, targets: dict[str, str]) -> dict[str, Any]:
    argv = [sys.executable, "-m", "stampede", "compare", "--scenario", scenario]
    argv += ["--duration", "4", "--users", "4", "--no-progress", "--no-plots"]
    argv += ["--wait", "300"]
    argv += ["--out", str(out), "--stall-seconds", "3", "--grace", "1"]
    for name, command in targets.items():
        argv += ["--target", f"{name}={command}"]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads((out / "latest" / "summary.json").read_text())


def test_acp_bridge_leaks_before_0_11_and_not_after(tmp_path: Path) -> None:
    old, new = (python_of(f"agent-client-protocol=={v}") for v in ("0.8.1", "0.12.1"))
    app = "-m uvicorn examples.acp_bridge:app --port {port}"
    targets = {"acp-0.8.1": f"{old} {app}", "acp-0.12.1": f"{new} {app}"}
    summary = compare(tmp_path, "session", targets)
    variants = summary["variants"]
    assert variants["acp-0.8.1"]["loop_errors"].get("task_destroyed_pending", 0) > 0
    assert not any(variants["acp-0.12.1"]["loop_errors"].values())
    for v in variants.values():
        assert v["wedged"] is False and v["requests"]["ok"] > 0


def test_strands_releases_do_not_wedge(tmp_path: Path) -> None:
    pythons = {v: python_of(f"strands-agents=={v}") for v in ("1.45.0", "1.62.0")}
    app = "-m uvicorn examples.strands_app:app --port {port}"
    summary = compare(
        tmp_path, "idempotency", {f"strands-{v}": f"{p} {app}" for v, p in pythons.items()}
    )
    for name, v in summary["variants"].items():
        assert v["wedged"] is False, (name, summary["verdict"])
        assert v["requests"]["ok"] > 0, name
