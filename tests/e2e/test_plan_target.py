"""`stampede plan --target` end to end, against ground truth: examples/fixed_capacity.py, c
workers of a fixed service time s, whose peak is c/s and whose knee is c. One plan run (two
host shapes, a small ladder) feeds the accuracy, report, gate and diff tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

WORKERS, SERVICE_MS = 4, 100.0
PEAK = WORKERS / (SERVICE_MS / 1000)  # 40 intents/s
COMMAND = (
    f"{sys.executable} -m examples.fixed_capacity --workers {WORKERS} "
    f"--service-ms {SERVICE_MS:g} --port {{port}}"
)
REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _stampede(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stampede.loadtest.cli", *args],
        cwd=cwd, capture_output=True, text=True, timeout=240,
    )  # fmt: skip


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, int]:
    out = tmp_path_factory.mktemp("plan-target")
    done = _stampede(
        "plan", "--target", f"fixed={COMMAND}", "--cpus", "1,2", "--memory", "256MiB",
        "--slo-p99-ms", "500", "--max-concurrency", "8", "--max-duplicates", "4",
        "--step-seconds", "1", "--target-rate", "100", "--no-progress",
        "--fail-on", "knee_concurrency<2,storm_margin_duplicates>100",
        "--out", str(out), "--run-id", "e2e",
    )  # fmt: skip
    run_dir = out / "e2e"
    assert (run_dir / "plan.json").exists(), done.stderr
    return json.loads((run_dir / "plan.json").read_text()), run_dir, done.returncode


def test_finds_knee_and_peak_within_ten_percent_on_every_shape(planned: Any) -> None:
    plan, _, _ = planned
    assert plan["complete"], [s["errors"] for s in plan["shapes"]]
    assert [s["cpus"] for s in plan["shapes"]] == [1, 2]
    for shape in plan["shapes"]:
        f = shape["figures"]
        assert f["peak_goodput"] == pytest.approx(PEAK, rel=0.1), shape["label"]
        assert f["knee_concurrency"] == pytest.approx(WORKERS, rel=0.1), shape["label"]
        assert isinstance(shape["usl"]["r2"], float)  # reported, quoted or not
        assert shape["usl"]["points"] >= 4
        # Past the knee the levels are flat at c/s: the ladder measured both sides of it.
        levels = {p["concurrency"]: p for p in shape["ladder"]["points"]}
        assert {1, 2, 4, 8} <= set(levels)
        assert levels[8]["goodput_per_s"] == pytest.approx(PEAK, rel=0.1)


def test_shapes_are_capped_and_read_back(planned: Any) -> None:
    plan, _, _ = planned
    for shape in plan["shapes"]:
        caps = shape["caps"]
        assert caps["requested"]["cpus"] == shape["cpus"]
        if caps["method"].startswith("cgroup"):
            assert caps["enforced"]["cpus"] == pytest.approx(shape["cpus"])
            assert caps["enforced"]["memory_bytes"] == 256 << 20
        assert len(shape["cpuset"]) == shape["cpus"]


def test_storm_margin_and_recommendations(planned: Any) -> None:
    plan, _, _ = planned
    for shape in plan["shapes"]:
        storm, f = shape["storm"], shape["figures"]
        # The example does not deduplicate: each duplicate is a whole extra request, so D
        # duplicates leave 1/(D+1) of the goodput; half is lost at D=1, two thirds at D=2.
        assert storm["margin_duplicates"] in (1, 2)
        assert storm["concurrency"] == round(f["knee_concurrency"])
        # p99 at N=8 is ~200 ms, inside the 500 ms SLO: every level was within it.
        assert shape["ladder"]["summary"]["slo_max_concurrency"] == 8
        assert f["recommended_limit"] == 6  # 80% of 8
        assert f["replicas"] == -(-100 // int(f["goodput_at_limit"])) or f["replicas"] >= 3
        assert set(shape["policies"]["trials"]) == {"none", "full-jitter", "budget", "adaptive"}
        text = " ".join(shape["advice"])
        assert "--limit-concurrency 6" in text and "replica(s)" in text


def test_report_gates_and_exit_code(planned: Any) -> None:
    plan, run_dir, code = planned
    for name in ("plan.md", "plan.html", "throughput_usl.png", "latency_slo.png"):
        assert (run_dir / name).stat().st_size > 0, name
    assert (run_dir / "storm_margin.png").exists()
    md = (run_dir / "plan.md").read_text()
    assert "fixed@1cpu" in md and "fixed@2cpu" in md and "--limit-concurrency" in md
    results = {(g["variant"], g["gate"]): g["result"] for g in plan["gates"]}
    assert results[("fixed@1cpu", "knee_concurrency<2")] == "passed"
    assert code == 0, "every gate passed and the plan is complete"


def test_diff_between_two_plans(planned: Any, tmp_path: Path) -> None:
    plan, run_dir, _ = planned
    same = _stampede("diff", str(run_dir), str(run_dir), "--json")
    assert same.returncode == 0, same.stderr
    rows = json.loads(same.stdout)["rows"]
    assert {r["figure"] for r in rows} >= {"knee_concurrency", "peak_goodput"}
    worse = json.loads(json.dumps(plan))
    worse["variants"]["fixed@1cpu"]["peak_goodput"] /= 2
    (tmp_path / "plan.json").write_text(json.dumps(worse))
    regressed = _stampede("diff", str(run_dir), str(tmp_path))
    assert regressed.returncode == 1
    assert "fixed@1cpu peak_goodput" in regressed.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--target", "u=http://127.0.0.1:9", "--cpus", "1"], "--cpus: a URL target"),
        (["--target", f"a={COMMAND}", "--waiters", "future"], "--waiters is the built-in"),
        (["--slo-p99-ms", "100"], "--slo-p99-ms needs --target"),
        (["--target", "a=python app.py"], "needs {port}"),
        (["--target", f"a={COMMAND}", "--fail-on", "bogus<1"], "unknown figure 'bogus'"),
        (["--target", f"a={COMMAND}", "--target", f"b={COMMAND}"], "one target"),
    ],
)
def test_bad_flags_are_one_line(args: list[str], says: str, tmp_path: Path) -> None:
    done = _stampede("plan", *args, "--out", str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr
