"""A short real `stampede compare --scenario all`: capped servers, real Locust, real reports.

Each buggy hazard variant must come out flagged and each fixed one clean, in summary.json and
in the report, with the scenario's own plots next to the verdict; leaked tasks are read after
a gc pass; and the three stream variants each get their full load within the run's budget.
(The idempotency scenario runs too; its own assertions live with its tests.)
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import matplotlib.image
import pytest

from tests.serverproc import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DURATION_S = 3
SEED_SCENARIOS = ("idempotency", "stream", "session")
SCENARIO_PLOTS = ["plots/loop_errors.png", "plots/live_tasks.png"]


def run_all(out: Path) -> dict[str, dict]:
    # The seeds' three; the newer hazards' storms have their own e2e tests.
    argv = [sys.executable, "-m", "stampede", "compare", "--scenario", ",".join(SEED_SCENARIOS)]
    argv += ["--duration", str(DURATION_S), "--users", "4", "--out", str(out), "--no-progress"]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=220)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summaries = {}
    for path in out.glob("*/summary.json"):
        summary = json.loads(path.read_text())
        assert summary["complete"], path
        summaries[summary["scenario"]] = {**summary, "dir": path.parent}
    return summaries


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    # One end-to-end run shared by this module's tests: it is the slow part of the suite.
    return run_all(tmp_path_factory.mktemp("compare-all") / "results")


def test_compare_all_flags_each_buggy_variant_and_clears_each_fix(runs: dict[str, dict]) -> None:
    assert set(runs) == set(SEED_SCENARIOS)

    stream = runs["stream"]["variants"]
    buggy = stream["anyio_taskgroup"]
    assert buggy["hazard"]["result"] == "flagged", runs["stream"]["verdict"]
    assert buggy["hazard"]["triggers"] > 0
    # One error per dropped stream (a few may still be in flight at the final scrape).
    assert buggy["loop_errors"]["cancel_scope"] >= 0.9 * buggy["hazard"]["triggers"]
    for fixed in ("asyncio_tasks", "owner_task"):
        assert stream[fixed]["hazard"]["result"] == "clean", runs["stream"]["verdict"]
        assert stream[fixed]["hazard"]["triggers"] > 0
        assert not any(stream[fixed]["loop_errors"].values()), stream[fixed]["loop_errors"]

    session = runs["session"]["variants"]
    bare, closing = session["bare"], session["closing"]
    checks = bare["hazard"]["triggers"]
    assert bare["hazard"]["result"] == "flagged", runs["session"]["verdict"]
    # Both readings of live tasks come after a gc pass, so the two orphans of every check
    # have been destroyed and reported by the final one: none is left to count as leaked.
    for variant in (bare, closing):
        assert variant["leaked_tasks_after_gc"] is True, variant["timings"]
    reports = bare["loop_errors"]["task_destroyed_pending"]
    assert 1.8 * checks <= reports <= 2.2 * checks, (reports, checks)
    assert bare["leaked_tasks"] == 0, (bare["leaked_tasks"], reports, checks)
    assert closing["hazard"]["result"] == "clean", runs["session"]["verdict"]
    assert closing["hazard"]["triggers"] > 0
    assert not any(closing["loop_errors"].values())
    assert closing["leaked_tasks"] == 0

    # The budget leaves every variant its start-up and full load, even the first of three.
    for name in ("stream", "session"):
        assert runs[name]["wall_time_s"] <= runs[name]["deadline_s"], runs[name]["wall_time_s"]
        for variant, v in runs[name]["variants"].items():
            assert v["ended"] == "completed", (name, variant, v["ended"], v["timings"])
            assert v["ran_s"] >= DURATION_S, (name, variant, v["ran_s"])
            assert v["timings"]["overhead_s"] > 0, v["timings"]

    for name, flagged, clean in (
        ("stream", ["anyio_taskgroup"], ["asyncio_tasks", "owner_task"]),
        ("session", ["bare"], ["closing"]),
    ):
        report = (runs[name]["dir"] / "report.html").read_text()
        verdict = runs[name]["verdict"]
        for variant in flagged:
            assert any(line.startswith(f"{variant} FLAGGED") for line in verdict), verdict
            assert f"{variant} FLAGGED" in report
        for variant in clean:
            assert any(line.startswith(f"{variant} clean") for line in verdict), verdict
            assert f"{variant} clean" in report


def read_timeseries(run_dir: Path) -> tuple[list[str], list[dict[str, str]]]:
    with (run_dir / "timeseries.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def last_value(rows: list[dict[str, Any]], variant: str, column: str) -> int:
    values = [r[column] for r in rows if r["variant"] == variant and r[column] != ""]
    return int(values[-1])


def test_hazard_reports_carry_their_plots(runs: dict[str, dict]) -> None:
    expected_kind = {"stream": ("anyio_taskgroup", "cancel_scope"),
                     "session": ("bare", "task_destroyed_pending")}  # fmt: skip
    for name, (buggy, kind) in expected_kind.items():
        run, run_dir = runs[name], runs[name]["dir"]
        assert run["scenario_plots"] == SCENARIO_PLOTS
        assert set(SCENARIO_PLOTS) <= set(run["plots"])
        for relative in SCENARIO_PLOTS:
            data = (run_dir / relative).read_bytes()
            assert data.startswith(PNG_SIGNATURE) and len(data) > 5000, relative
            height, width, _ = matplotlib.image.imread(run_dir / relative).shape
            assert width > 500 and height > 200, relative

        # The figures' data: one column per loop-error kind in every sampled row, cumulative;
        # the buggy variant's kind climbs, every fixed variant's stays at zero.
        header, rows = read_timeseries(run_dir)
        kinds = [c for c in header if c.startswith("loop_errors_")]
        assert f"loop_errors_{kind}" in kinds and "loop_errors_other" in kinds
        for variant in run["variants"]:
            sampled = [r for r in rows if r["variant"] == variant and r["server_scrape_ok"] == "1"]
            assert sampled and all(r[c] != "" for r in sampled for c in kinds), variant
            total = sum(last_value(rows, variant, c) for c in kinds)
            assert total == last_value(rows, variant, "loop_errors")
            if variant == buggy:
                assert last_value(rows, variant, f"loop_errors_{kind}") > 0
            else:
                assert total == 0, variant

        # With the verdict: in the Verdict section, before the summary table and the
        # standard plots; embedded in the HTML, linked from the markdown.
        html = (run_dir / "report.html").read_text()
        verdict_section = html.split("<h2>Verdict</h2>", 1)[1].split("<h2>Summary</h2>", 1)[0]
        sources = dict(re.findall(r'alt="([^"]+)" src="(data:image/png;base64,[^"]+)"', html))
        for relative in SCENARIO_PLOTS:
            stem = Path(relative).stem
            assert f'alt="{stem}"' in verdict_section, stem
            assert sources[stem].startswith("data:image/png;base64,")
        markdown = (run_dir / "report.md").read_text()
        verdict_md = markdown.split("## Verdict", 1)[1].split("## Summary", 1)[0]
        assert all(f"]({relative})" in verdict_md for relative in SCENARIO_PLOTS)
        assert "| hazard result |" in markdown
