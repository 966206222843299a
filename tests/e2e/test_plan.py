"""`stampede plan` end to end: real capped servers on loopback, real HTTP load, real cgroups.

One plan run (cpus 1, 2, 4; both waiters) feeds the threshold, head-of-line, schema and report
tests; Ctrl-C gets its own run in a subprocess.
"""

from __future__ import annotations

import base64
import glob
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import matplotlib.image
import psutil
import pytest
from stampede import loadtest
from stampede.loadtest.commands.plan.plan import PlanOptions, run_plan

SCHEMA_PATH = Path(loadtest.__file__).parent / "commands" / "plan" / "plan_schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text())
LATENCY_MS = 300.0
MAX_DUPLICATES = 16  # enough to pass every pool size tested (<= 8) by a wide margin

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def _own_cgroups(pid: int) -> list[str]:
    # caps names each leaf "<name>.<harness pid>.<random>"
    return [p for p in glob.glob("/sys/fs/cgroup/**/stampede/*", recursive=True) if f".{pid}." in p]


@pytest.fixture(scope="module")
def plan_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, float]:
    out = tmp_path_factory.mktemp("plan")
    options = PlanOptions(
        cpus=(1, 2, 4),
        waiters=("to_thread", "future"),
        max_duplicates=MAX_DUPLICATES,
        model_latency_ms=LATENCY_MS,
        model_cycles=2,
        out=out,
        run_id="e2e",
        progress=False,
    )
    started = time.monotonic()
    run_dir = run_plan(options)
    elapsed = time.monotonic() - started
    return json.loads((run_dir / "plan.json").read_text()), run_dir, elapsed


def _row(plan: dict[str, Any], cpus: int, waiter: str) -> dict[str, Any]:
    (row,) = [r for r in plan["rows"] if r["cpus"] == cpus and r["waiter"] == waiter]
    return row


@pytest.mark.parametrize("cpus", [1, 2, 4])
def test_to_thread_wedges_exactly_at_the_predicted_pool_size(plan_run: Any, cpus: int) -> None:
    plan, _, _ = plan_run
    row = _row(plan, cpus, "to_thread")
    pool = min(32, cpus + 4)  # CPython's rule, written out independently of the code under test
    assert row["pool_size"] == pool
    assert row["predicted_wedge_duplicates"] == pool
    assert row["measured_wedge_duplicates"] == pool, row["probes"]
    assert row["verdict"] == "match"
    # The evidence behind the number: pool-1 was served in full, pool wedged, on this pool.
    by_d = {p["duplicates"]: p for p in row["probes"] if p["conclusive"]}
    assert by_d[pool - 1]["wedged"] is False and by_d[pool - 1]["served"] == pool - 1
    assert by_d[pool]["wedged"] is True and by_d[pool]["peak_parked_workers"] == pool
    assert all(p["pool_size"] == pool for p in row["probes"])


@pytest.mark.parametrize("cpus", [1, 2, 4])
def test_future_waiter_never_wedges_up_to_max_tested(plan_run: Any, cpus: int) -> None:
    plan, _, _ = plan_run
    row = _row(plan, cpus, "future")
    assert row["predicted_wedge_duplicates"] is None
    assert row["measured_wedge_duplicates"] is None
    assert row["max_tested"] == MAX_DUPLICATES
    final = [p for p in row["probes"] if p["duplicates"] == MAX_DUPLICATES and p["conclusive"]]
    assert final and not final[-1]["wedged"]
    assert final[-1]["served"] == MAX_DUPLICATES
    assert all(p["peak_parked_workers"] == 0 for p in row["probes"])


@pytest.mark.parametrize("cpus", [1, 2, 4])
def test_head_of_line_to_thread_queues_unrelated_agents_future_does_not(
    plan_run: Any, cpus: int
) -> None:
    plan, _, _ = plan_run
    pool = min(32, cpus + 4)
    top = str(pool - 1)
    slow, fast = _row(plan, cpus, "to_thread"), _row(plan, cpus, "future")
    assert set(slow["hol_latency_ms"]) == {"0", str(pool // 4), str(pool // 2), top}
    # Threads in use, read from the server: each waiting to_thread duplicate holds a worker.
    assert slow["hol_latency_ms"][top]["parked_workers"] == pool - 1
    assert fast["hol_latency_ms"][top]["parked_workers"] == 0
    rise_slow = slow["hol_latency_ms"][top]["p50"] - slow["hol_latency_ms"]["0"]["p50"]
    rise_fast = fast["hol_latency_ms"][top]["p50"] - fast["hol_latency_ms"]["0"]["p50"]
    # to_thread: one free worker left, so unrelated calls run one after another (several model
    # latencies); future: every worker is free, so no wait beyond noise.
    assert rise_slow >= 2 * LATENCY_MS, slow["hol_latency_ms"]
    assert rise_fast < LATENCY_MS, fast["hol_latency_ms"]
    # Each unrelated invocation is two model calls; D=0 must not be slower than a little queueing.
    assert slow["hol_latency_ms"]["0"]["p50"] >= 2 * LATENCY_MS


def test_plan_json_matches_schema_and_reports_costs(plan_run: Any) -> None:
    plan, _, _ = plan_run
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA).validate(plan)
    assert plan["complete"] is True and plan["interrupted"] is False
    assert [(r["cpus"], r["waiter"]) for r in plan["rows"]] == [
        (c, w) for c in (1, 2, 4) for w in ("to_thread", "future")
    ]
    # From the waiter benchmark: a to_thread duplicate takes a thread, a future one does not.
    assert _row(plan, 1, "to_thread")["threads_per_waiter"] == pytest.approx(1.0, abs=0.05)
    assert _row(plan, 1, "future")["threads_per_waiter"] == pytest.approx(0.0, abs=0.05)
    # The schema is not vacuous: a broken row is rejected.
    broken = json.loads(json.dumps(plan))
    broken["rows"][0]["measured_wedge_duplicates"] = "five"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_report_files_plots_and_self_contained_html(plan_run: Any) -> None:
    plan, run_dir, _ = plan_run
    pngs = [run_dir / "threshold.png", run_dir / "hol_p99.png"]
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        height, width, _ = matplotlib.image.imread(png).shape  # decodes the whole image
        assert height > 200 and width > 300
    page = (run_dir / "plan.html").read_text()
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 2 and all(s.startswith("data:image/png;base64,") for s in sources)
    embedded = {base64.b64decode(s.split(",", 1)[1]) for s in sources}
    assert embedded == {png.read_bytes() for png in pngs}
    assert "http://" not in page and "https://" not in page and "<link" not in page
    md = (run_dir / "plan.md").read_text()
    assert "| 4 | to_thread | 8 | 8 | 8 | 8 | match |" in md
    assert f"| 4 | future | 8 | 8 | none | none up to {MAX_DUPLICATES} | match |" in md
    assert any("below 5 concurrent duplicates" in line for line in plan["recommendation"])
    assert not list(run_dir.glob(".*.tmp*"))  # atomic writes leave no temporaries


def test_plan_cleans_up_and_each_probe_is_bounded(plan_run: Any) -> None:
    plan, _, elapsed = plan_run
    assert not _own_cgroups(os.getpid())
    servers = [c for c in psutil.Process().children(recursive=True) if "serve" in c.cmdline()]
    assert not servers
    probes = [p for r in plan["rows"] for p in r["probes"]]
    # A wedged server never answers; the probe still ends soon after the flag.
    assert max(p["elapsed_s"] for p in probes if p["wedged"]) < 15
    assert elapsed < 240


def test_ctrl_c_stops_servers_removes_cgroups_and_leaves_partial_plan(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "stampede", "plan", "--cpus", "1,2", "--out"]
    proc = subprocess.Popen([*argv, str(tmp_path), "--run-id", "cc", "--no-progress"])
    try:
        deadline = time.monotonic() + 60
        while not _own_cgroups(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _own_cgroups(proc.pid), "no probe server started"
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 130
    finally:
        proc.kill()
    _, alive = psutil.wait_procs(children, timeout=2)
    assert not alive
    assert not _own_cgroups(proc.pid)
    plan = json.loads((tmp_path / "cc" / "plan.json").read_text())
    jsonschema.validate(plan, SCHEMA)
    assert plan["complete"] is False and plan["interrupted"] is True
