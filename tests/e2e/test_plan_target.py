"""`stampede plan --target` end to end, against ground truth: examples/fixed_capacity.py, c
workers of a fixed service time s, whose peak is c/s and whose knee is c. One plan run (two
host shapes, a small ladder) feeds the accuracy, report, gate and diff tests.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from stampede import loadtest
from stampede.loadtest.cli import main
from stampede.loadtest.commands.plan.target_cli import exit_code
from stampede.loadtest.commands.plan.target_plan import TargetPlanOptions, run_target_plan
from stampede.loadtest.targets.spec import parse_target

WORKERS, SERVICE_MS = 4, 400.0
PEAK = WORKERS / (SERVICE_MS / 1000)  # 10 intents/s
COMMAND = (
    f"{sys.executable} -m examples.fixed_capacity --workers {WORKERS} "
    f"--service-ms {SERVICE_MS:g} --port {{port}}"
)

SCHEMA = json.loads(
    (Path(loadtest.__file__).parent / "commands" / "plan" / "target_plan_schema.json").read_text()
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _stampede(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The CLI in this process (a subprocess would pay Stampede's import again)."""
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("plan-target")
    options = TargetPlanOptions(
        target=parse_target(f"fixed={COMMAND}"),
        cpus=(1, 2),
        memory_bytes=256 << 20,
        slo_p99_ms=2000,
        max_concurrency=8,
        max_duplicates=2,
        step_s=1.5,
        target_rate=100,
        fail_on=("knee_concurrency<2", "storm_margin_duplicates>100"),
        out=out,
        run_id="e2e",
        progress=False,
    )
    run_dir = run_target_plan(options)
    return json.loads((run_dir / "plan.json").read_text()), run_dir


def test_finds_knee_and_peak_within_ten_percent_on_every_shape(planned: Any) -> None:
    plan, _ = planned
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
    plan, _ = planned
    jsonschema.validate(plan, SCHEMA)
    for shape in plan["shapes"]:
        caps = shape["caps"]
        assert caps["requested"]["cpus"] == shape["cpus"]
        if caps["method"].startswith("cgroup"):
            assert caps["enforced"]["cpus"] == pytest.approx(shape["cpus"])
            assert caps["enforced"]["memory_bytes"] == 256 << 20
        assert len(shape["cpuset"]) == shape["cpus"]


def test_storm_margin_and_recommendations(planned: Any) -> None:
    plan, _ = planned
    for shape in plan["shapes"]:
        storm, f = shape["storm"], shape["figures"]
        # The example does not deduplicate: each duplicate is a whole extra request, so D
        # duplicates leave 1/(D+1) of the goodput; half is lost at D=1, two thirds at D=2.
        assert storm["margin_duplicates"] in (1, 2)
        assert storm["concurrency"] == round(f["knee_concurrency"])
        # p99 at N=8 is ~800 ms, inside the 2000 ms SLO: every level was within it.
        assert shape["ladder"]["summary"]["slo_max_concurrency"] == 8
        assert f["recommended_limit"] == 6  # 80% of 8
        assert f["replicas"] == math.ceil(100 / f["goodput_at_limit"])  # Little's law
        assert set(shape["policies"]["trials"]) == {"none", "full-jitter", "budget", "adaptive"}
        text = " ".join(shape["advice"])
        assert "--limit-concurrency 6" in text and "replica(s)" in text


def test_report_gates_and_exit_code(planned: Any, capsys: pytest.CaptureFixture[str]) -> None:
    plan, run_dir = planned
    for name in ("plan.md", "plan.html", "throughput_usl.png", "latency_slo.png"):
        assert (run_dir / name).stat().st_size > 0, name
    assert (run_dir / "storm_margin.png").exists()
    md = (run_dir / "plan.md").read_text()
    assert "fixed@1cpu" in md and "fixed@2cpu" in md and "--limit-concurrency" in md
    results = {(g["variant"], g["gate"]): g["result"] for g in plan["gates"]}
    assert results[("fixed@1cpu", "knee_concurrency<2")] == "passed"
    assert exit_code(plan) == 0, "every gate passed and the plan is complete"
    failing = {**plan, "gates": [{**plan["gates"][0], "result": "failed"}]}
    assert exit_code(failing) == 1
    assert "gate failed: fixed@1cpu: knee_concurrency<2" in capsys.readouterr().err


def test_diff_between_two_plans(
    planned: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan, run_dir = planned
    code, out, err = _stampede(capsys, "diff", str(run_dir), str(run_dir), "--json")
    assert code == 0, err
    rows = json.loads(out)["rows"]
    assert {r["figure"] for r in rows} >= {"knee_concurrency", "peak_goodput"}
    worse = json.loads(json.dumps(plan))
    worse["variants"]["fixed@1cpu"]["peak_goodput"] /= 2
    (tmp_path / "plan.json").write_text(json.dumps(worse))
    code, out, _ = _stampede(capsys, "diff", str(run_dir), str(tmp_path))
    assert code == 1
    assert "fixed@1cpu peak_goodput" in out


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
def test_bad_flags_are_one_line(
    args: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _stampede(capsys, "plan", *args, "--out", str(tmp_path))
    assert code == 2, err
    assert says in err and "Traceback" not in err
