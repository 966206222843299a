"""End to end: real capped servers, real Locust, real cgroups; and an interrupted run.

The short compare uses the defaults' shape (2 emulated CPUs -> pool 6, duplicates = pool size),
8 s per variant: to_thread must wedge with every worker parked by waiters, future must not park
a single one.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.image
import psutil
import pytest
from stampede.loadtest.commands.compare.options import CompareOptions, run_budget_s
from stampede.loadtest.commands.compare.run import run_compare
from stampede.loadtest.flags import parse_memory
from stampede.loadtest.process import launcher
from stampede.loadtest.process.caps import CapsRequest
from stampede.loadtest.storm import runner
from stampede.loadtest.storm.scenarios import SCENARIOS
from stampede.server.settings import ServerSettings, settings_flags

pytestmark = pytest.mark.slow
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_leaves(owner_pid: int) -> list[Path]:
    """stampede cgroups created by the harness process owner_pid (caps names them so)."""
    return [p for p in CGROUP_ROOT.glob("**/stampede/*") if f".{owner_pid}." in p.name]


def test_short_compare(tmp_path: Path) -> None:
    options = CompareOptions(duration_s=8, out=tmp_path, memory_bytes=parse_memory("512M"))
    started = time.monotonic()
    [run_dir] = run_compare(options)
    wall = time.monotonic() - started
    assert wall <= run_budget_s(options, SCENARIOS["idempotency"]), wall
    assert (tmp_path / "latest").resolve() == run_dir.resolve()

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["complete"] is True and summary["scenario"] == "idempotency"
    for key in ("run_id", "started_at", "settings", "variants"):
        assert key in summary
    variants = summary["variants"]
    to_thread, future, batched = variants["to_thread"], variants["future"], variants["batched"]
    assert {v["executor_max_workers"] for v in variants.values()} == {6}

    assert to_thread["wedged"] is True and 0 <= to_thread["wedged_at_s"] < 8
    assert to_thread["peak_waiter_threads"] == to_thread["executor_max_workers"]
    assert to_thread["ended"] == "wedged", "a wedged variant ends early after its grace period"
    for thread_free in (future, batched):
        assert thread_free["wedged"] is False and thread_free["wedged_at_s"] is None
        assert thread_free["peak_waiter_threads"] == 0
        assert thread_free["requests"]["ok"] > 0
    for v in (to_thread, future, batched):
        assert set(v["requests"]) >= {"ok", "failed", "conflict", "timeout"}
        assert set(v["latency_ms"]) == {"p50", "p95", "p99"}
        assert v["peak_threads"] > 0 and v["peak_executor_queued"] is not None
        assert v["peak_event_loop_tasks"] > 0 and isinstance(v["leaked_tasks"], int)
        assert isinstance(v["loop_errors"], dict)
        caps = v["caps"]
        assert caps["method"] in ("cgroup-v1", "cgroup-v2"), caps
        assert (
            caps["enforced"]
            == caps["requested"]
            == {
                "cpus": 2.0,
                "memory_bytes": 512 << 20,
                "pids": 512,
            }
        )
        assert not any(os.path.exists(p) for p in caps["cgroup_paths"]), "cgroup left behind"
        assert (run_dir / v["files"]["server_log"]).exists()
        assert (run_dir / f"{v['files']['locust_csv_prefix']}_stats.csv").exists()
    assert "WEDGED" in (run_dir / to_thread["files"]["server_log"]).read_text()
    assert "to_thread wedged at" in " ".join(summary["verdict"])

    with (run_dir / "timeseries.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["variant"] for r in rows} == {"to_thread", "future", "batched"}
    assert any(r["busy_waiter"] == "6" for r in rows if r["variant"] == "to_thread")

    # Every figure is drawn, or named as skipped when the run's deadline came first (a busy
    # machine); the run never overran its budget for a figure (checked above).
    plots = sorted((run_dir / "plots").glob("*.png"))
    assert len(plots) + len(summary["plots_skipped"]) >= 6
    assert sorted(summary["plots"]) == sorted(f"plots/{p.name}" for p in plots)
    for path in plots:
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1000, path
        assert matplotlib.image.imread(path).size > 0
    html = (run_dir / "report.html").read_text()
    # No URL outside the inlined images (base64 may spell "//cdn" by chance).
    assert not re.search(r"https?:|//cdn", re.sub(r'"data:[^"]*"', '""', html), re.IGNORECASE)
    assert all(s.startswith("data:") for s in re.findall(r'src="([^"]*)"', html))
    assert "to_thread wedged at" in (run_dir / "report.md").read_text()


def test_interrupted_run_cleans_up(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "stampede", "compare", "--duration", "10", "--out",
         str(tmp_path), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    harness = psutil.Process(proc.pid)
    children: set[psutil.Process] = set()
    try:
        # Interrupt once the storm runs: a server and a Locust are both up.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            kids = harness.children(recursive=True)
            children |= set(kids)
            names = " ".join(" ".join(k.cmdline()) for k in kids if k.is_running())
            if "locust" in names and "serve" in names and cgroup_leaves(proc.pid):
                break
            time.sleep(0.2)
        assert cgroup_leaves(proc.pid), "the run never got its capped server going"
        time.sleep(1.0)
        children |= set(harness.children(recursive=True))
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output
    assert b"Traceback" not in output, output.decode(errors="replace")
    alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"left behind: {[c.cmdline() for c in alive]}"
    assert not cgroup_leaves(proc.pid)
    [run_dir] = [p for p in tmp_path.iterdir() if p.is_dir() and not p.is_symlink()]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["complete"] is False
    assert any(v["ended"] == "interrupted" for v in summary["variants"].values()), summary


def test_fallback_caps_when_cgroups_are_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A root with no cgroup mount under it: caps must fall back to affinity and rlimits,
    # and the summary must say so rather than claim limits it did not set.
    monkeypatch.setenv("STAMPEDE_CGROUP_ROOT", str(tmp_path / "no-cgroups"))
    options = CompareOptions(duration_s=3, out=tmp_path / "results", variants=("future",))
    [run_dir] = run_compare(options)
    summary = json.loads((run_dir / "summary.json").read_text())
    caps = summary["variants"]["future"]["caps"]
    assert caps["method"] == "fallback" and caps["cgroup_paths"] == []
    assert caps["enforced"]["cpus"] == 2 and caps["enforced"]["pids"] is None
    assert any("pids" in note for note in caps["notes"])
    assert "| future | fallback |" in (run_dir / "report.md").read_text()


def test_variant_survives_losing_its_port_race(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # free_port() cannot reserve a port; if someone binds it first the server must be
    # restarted on another one, not the variant lost.
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = iter([taken.getsockname()[1]])
    real_free_port = launcher.free_port
    monkeypatch.setattr(launcher, "free_port", lambda: next(ports, None) or real_free_port())
    settings = ServerSettings.explicit(waiter="future", cpus=2, model_latency_ms=100)
    plan = runner.VariantPlan(
        variant="future",
        target=launcher.stampede_target(settings, caps=CapsRequest(cpus=2)),
        server_settings=settings_flags(settings),
        user_classes=["IdempotencyStormUser"],
        locust_args={"duplicates": "2", "agents": "2"},
        users=2,
        duration_s=2,
        grace_s=1,
        run_dir=tmp_path,
    )
    try:
        record = runner.run_variant(plan, time.monotonic() + 30, lambda row: None)
    finally:
        taken.close()
    assert record.error is None and record.ended == "completed", record.error
    assert "was taken; retrying" in (tmp_path / record.files["server_log"]).read_text()
    assert any(row.get("client_requests") for row in record.samples)
    assert not any(os.path.exists(p) for p in record.caps["cgroup_paths"])
