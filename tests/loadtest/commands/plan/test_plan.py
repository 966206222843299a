"""`stampede plan` arguments and the plan's pure parts: prediction and probe order."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from stampede.loadtest.commands.plan.plan import (
    hol_levels,
    next_probes,
    pool_sizes,
    predicted_wedge,
    threshold,
)
from stampede.loadtest.process.caps import CapsRequest, cgroups_available, start_capped


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--cpus", "0"),
        ("--cpus", "1,x"),
        ("--cpus", "2000"),
        ("--waiters", "to_thread,bogus"),
        ("--max-duplicates", "-3"),
        ("--max-duplicates", "many"),
        ("--model-latency-ms", "abc"),
        ("--model-latency-ms", "1"),
        ("--model-cycles", "0"),
        ("--parallel", "0"),
        ("--run-id", "../escape"),
        ("--cpus", "1,,2"),
    ],
)
def test_bad_values_exit_2_naming_the_value(flag: str, value: str, tmp_path: Path) -> None:
    done = _plan_cli("--out", str(tmp_path), flag, value, "--no-progress")
    assert done.returncode == 2
    err = done.stderr.strip()
    assert err.startswith("stampede plan: error:") and len(err.splitlines()) == 1, err
    assert flag in err and value in err
    assert not list(tmp_path.iterdir()), "nothing may start before the values are checked"


def test_out_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "afile"
    target.write_text("x")
    done = _plan_cli("--out", str(target))
    assert done.returncode == 2
    assert str(target) in done.stderr and "Traceback" not in done.stderr


def _plan_cli(*args: str) -> subprocess.CompletedProcess[str]:
    # A real process: the exit code and stderr a user sees, not a re-raised exception.
    argv = [sys.executable, "-m", "stampede", "plan", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_pool_rules_differ_only_where_python_versions_do() -> None:
    # A cpuset of 2 CPUs on a 64-CPU host: <=3.12 counts the host, 3.13+ the cpuset.
    assert pool_sizes(64, 2) == (32, 6)
    assert pool_sizes(8, 8) == (12, 12)
    assert predicted_wedge("to_thread", 12, cycles=2) == 12
    assert predicted_wedge("to_thread", 12, cycles=1) is None  # no second call to starve
    assert predicted_wedge("future", 12, cycles=2) is None
    assert hol_levels(12) == [0, 3, 6, 11]
    assert hol_levels(5) == [0, 1, 2, 4]


def _search(true_threshold: int | None, predicted: int | None, max_dup: int) -> list[list[int]]:
    """Drive next_probes against a monotone oracle; returns the probe batches in order."""
    results: dict[int, bool] = {}
    batches = []
    while todo := next_probes(results, predicted, max_dup):
        batches.append(todo)
        results.update({d: true_threshold is not None and d >= true_threshold for d in todo})
        assert len(batches) < 20
    assert threshold(results) == true_threshold
    return batches


def test_a_right_prediction_costs_two_probes_at_once() -> None:
    assert _search(12, predicted=12, max_dup=64) == [[11, 12]]
    assert _search(None, predicted=None, max_dup=64) == [[64]]


@pytest.mark.parametrize("predicted", [None, 1, 5, 12, 40, 64, 100])
def test_bisection_finds_any_threshold_when_the_prediction_is_wrong(predicted: int | None) -> None:
    for true in [None, *range(1, 65)]:
        batches = _search(true, predicted, 64)
        assert sum(len(b) for b in batches) <= 10


@pytest.mark.skipif(cgroups_available() is None, reason="needs writable cgroups")
def test_machine_info_reads_a_real_cfs_quota() -> None:
    # The plan records the quota it runs under; neither pool rule may change because of it.
    code = (
        "import json; from stampede.loadtest.commands.plan.plan import machine_info; "
        "print(json.dumps(machine_info()))"
    )
    with start_capped(
        [sys.executable, "-c", code],
        CapsRequest(cpus=0.5),
        name="plan-quota",
        stdout=subprocess.PIPE,
    ) as proc:
        out, _ = proc.popen.communicate(timeout=60)
    info = json.loads(out)
    assert info["cfs_quota_cpus"] == pytest.approx(0.5)
    assert info["pool_size_py312"] == min(32, info["os_cpu_count"] + 4)
    assert info["pool_size_py313"] == min(32, info["process_cpu_count"] + 4)
