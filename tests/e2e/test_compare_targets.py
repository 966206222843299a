"""`stampede compare --target`: the project's example apps as the user's own servers.

No Stampede code inside the black-box apps: the to_thread idempotency cache must come out
wedged with evidence "stacks" (py-spy shows every default-executor worker parked in a wait)
and its stacks file in the run folder; the SSE relay's cancel-scope errors and the WebSocket
bridge's destroyed tasks are read from stderr, each report once; the fixed apps, a merely busy
app and an app that only logs look-alike words must come out clean; a target that cannot
start is one line while the others still run. The same apps with `stampede.probe.install(app)`
are classified with evidence "exact".
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from stampede.loadtest.observe.stack_evidence import py_spy

from tests.serverproc import ROOT, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
STORM = ["--duration", "4", "--users", "4", "--stall-seconds", "2", "--grace", "1"]


def compare(
    out: Path, targets: dict[str, str], extra: list[str] | None = None
) -> tuple[dict[str, Any], str]:
    argv = [sys.executable, "-m", "stampede", "compare", *STORM, "--out", str(out)]
    argv += ["--no-progress", "--no-plots", "--wait", "120", *(extra or [])]
    for name, command in targets.items():
        argv += ["--target", f"{name}={command}"]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=170)
    summary = json.loads((out / "latest" / "summary.json").read_text())
    assert summary["complete"], proc.stdout[-2000:] + proc.stderr[-2000:]
    return summary, proc.stdout


@pytest.mark.skipif(py_spy() is None, reason="py-spy is a dependency but not installed here")
def test_black_box_targets_are_classified_with_their_evidence(tmp_path: Path) -> None:
    summary, stdout = compare(
        tmp_path / "caches",
        {
            "to_thread": "uvicorn examples.idempotency_cache:app --port {port}",
            "future": "uvicorn examples.idempotency_cache:fixed_app --port {port}",
            "broken": "uvicorn examples.no_such_module:app --port {port}",
        },
    )
    # Two runs, so that each stays well inside its budget on a loaded machine. The busy app
    # also runs as a server the user started: a URL target, neither started nor capped.
    port = free_port()
    started = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "examples.busy_model:app", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        healthy, _ = compare(
            tmp_path / "healthy",
            {
                "busy": "uvicorn examples.busy_model:app --port {port}",
                "chatty": "uvicorn examples.chatty_logs:app --port {port}",
                "mine": f"http://127.0.0.1:{port}",
            },
        )
    finally:
        started.terminate()
        started.wait(10)
    variants = {**summary["variants"], **healthy["variants"]}
    mine = variants["mine"]
    assert mine["target"]["kind"] == "url" and mine["caps"] == {}
    assert (mine["wedged"], mine["wedge_evidence"]) == (False, "stall")
    assert mine["requests"]["ok"] > 0
    run_dir = tmp_path / "caches" / "latest"

    wedged = variants["to_thread"]
    assert wedged["target"]["kind"] == "command"
    # Capped like a built-in variant, with the caps read back from the kernel.
    assert wedged["caps"]["method"] in ("cgroup-v2", "cgroup-v1", "fallback")
    assert wedged["caps"]["enforced"]
    assert (wedged["wedged"], wedged["wedge_evidence"]) == (True, "stacks")
    assert wedged["parked_executor_threads"] >= 1
    stacks = (run_dir / wedged["stacks_file"]).read_text()
    assert stacks.count("Event.wait") >= wedged["parked_executor_threads"]
    assert (run_dir / wedged["files"]["server_stderr"]).exists()
    assert "WEDGED (evidence stacks" in "\n".join(summary["verdict"])

    for name in ("future", "busy", "chatty"):
        clean = variants[name]
        assert clean["wedged"] is False, (name, summary["verdict"], healthy["verdict"])
        assert clean["wedge_evidence"] in ("stall", "stacks"), name
        assert not any(clean["loop_errors"].values()), (name, clean["loop_errors"])
        assert clean["requests"]["ok"] > 0, name
    assert variants["chatty"]["target"]["health"] == "tcp"  # it has no /healthz

    broken = variants["broken"]
    assert broken["error"] and "\n" not in broken["error"]
    assert broken["wedged"] is None and broken["wedge_evidence"] is None
    assert f"broken did not run: {broken['error']}" in summary["verdict"]
    assert "report:" in stdout


def test_probed_targets_are_exact(tmp_path: Path) -> None:
    summary, _ = compare(
        tmp_path,
        {
            "to_thread": "uvicorn --factory examples.probed:to_thread_cache --port {port}",
            "future": "uvicorn --factory examples.probed:future_cache --port {port}",
        },
    )
    variants = summary["variants"]
    assert summary["description"].startswith("Your own servers under the same seeded storm")
    assert (variants["to_thread"]["wedged"], variants["to_thread"]["wedge_evidence"]) == (
        True,
        "exact",
    )
    assert variants["to_thread"]["parked_executor_threads"] >= 1
    assert (variants["future"]["wedged"], variants["future"]["wedge_evidence"]) == (False, "exact")
    assert variants["future"]["parked_executor_threads"] == 0
    assert variants["future"]["leaked_tasks"] is not None


@pytest.mark.parametrize(
    ("scenario", "module", "kind"),
    [("stream", "sse_relay", "cancel_scope"), ("session", "ws_bridge", "task_destroyed_pending")],
)
def test_loop_error_hazards_from_stderr_and_from_the_probe(
    tmp_path: Path, scenario: str, module: str, kind: str
) -> None:
    summary, _ = compare(
        tmp_path,
        {
            "buggy": f"uvicorn examples.{module}:app --port {{port}}",
            "fixed": f"uvicorn examples.{module}:fixed_app --port {{port}}",
            "probed": f"uvicorn --factory examples.probed:{module}_app --port {{port}}",
        },
        ["--scenario", scenario],
    )
    variants = summary["variants"]
    buggy, fixed, probed = variants["buggy"], variants["fixed"], variants["probed"]
    assert buggy["loop_errors"].get(kind, 0) > 0, summary["verdict"]
    assert sum(buggy["loop_errors"].values()) == buggy["loop_errors"][kind]
    verdict = "\n".join(summary["verdict"])
    assert f"buggy: loop errors: {buggy['loop_errors'][kind]} {kind} (read from its stderr)" in (
        verdict
    )
    assert buggy["state"]["state"] in ("erroring", "failing", "stalled"), verdict
    assert not any(fixed["loop_errors"].values()), fixed["loop_errors"]
    assert probed["wedge_evidence"] == "exact" and probed["wedged"] is False
    assert probed["loop_errors"][kind] > 0
    assert (
        f"probed: loop errors: {probed['loop_errors'][kind]} {kind} (counted by the probe)"
        in verdict
    )
    if kind == "task_destroyed_pending":  # the probe also sees the leaked tasks live
        assert probed["leaked_tasks"] > 0


def test_a_workload_file_speaks_someone_elses_api(tmp_path: Path) -> None:
    summary, _ = compare(
        tmp_path,
        {"custom": "uvicorn examples.custom_api:app --port {port}"},
        ["--workload", "examples/custom_api.toml", "--agents", "2"],
    )
    custom = summary["variants"]["custom"]
    assert custom["requests"]["ok"] > 0, summary["verdict"]
    # Two agents, so intents collide: 423 is this API's "conflict", never "unexpected HTTP".
    failed = custom["requests"]["failed_by_kind"]
    assert failed.get("conflict", 0) > 0 and "http_error" not in failed, failed
    assert custom["wedged"] is False
    assert summary["settings"]["targets"]["workload_file"] == "examples/custom_api.toml"
