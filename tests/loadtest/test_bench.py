"""`stampede bench`: the floor measured in the same run, and the JSON that carries it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from stampede.loadtest.bench.waiters import measure_floor, run_bench

from tests.serverproc import ROOT


def _stampede(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "stampede", *args]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_floor_times_every_task_it_released() -> None:
    row = measure_floor(200)
    assert row["duplicates"] == 200
    assert 0 < row["release_p50_ms"] <= row["release_p99_ms"] <= row["release_max_ms"]


def test_each_waiter_row_is_quoted_against_the_floor_of_its_size() -> None:
    result = run_bench(["future", "batched"], [30, 60], workers=4, repeat=2)
    floors = {row["duplicates"]: row for row in result["floor"]}
    assert sorted(floors) == [30, 60]
    assert [(r["waiter"], r["duplicates"]) for r in result["waiters"]] == [
        ("future", 30), ("batched", 30), ("future", 60), ("batched", 60),
    ]  # fmt: skip
    for row in result["waiters"]:
        floor = floors[row["duplicates"]]["release_p99_ms"]
        assert row["floor_p99_ms"] == floor
        assert row["p99_vs_floor"] == pytest.approx(row["release_p99_ms"] / floor)
        assert row["repeats"] == 2


def test_bench_waiters_json_carries_the_floor() -> None:
    done = _stampede("bench", "waiters", "--json", "--sizes", "25", "--waiters",
                     "to_thread,batched", "--repeat", "1", "--workers", "4")  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    [floor] = result["floor"]
    assert floor["duplicates"] == 25 and floor["release_p99_ms"] > 0
    assert {r["waiter"] for r in result["waiters"]} == {"to_thread", "batched"}
    for row in result["waiters"]:
        assert row["floor_p99_ms"] == floor["release_p99_ms"]
        assert row["p99_vs_floor"] == pytest.approx(row["release_p99_ms"] / floor["release_p99_ms"])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["waiters", "--repeat", "0"], "--repeat 0"),
        (["server", "--duration", "soon"], "--duration 'soon'"),
        (["server", "--rounds", "0"], "--rounds '0'"),
        (["server", "--waiters", "future,sleepy"], "'sleepy'"),
    ],
)
def test_bad_bench_values_exit_2_naming_the_value(args: list[str], needle: str) -> None:
    done = _stampede("bench", *args)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert needle in done.stderr and "Traceback" not in done.stderr
