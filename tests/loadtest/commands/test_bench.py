"""`stampede bench`: the floor measured in the same run, and the JSON that carries it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from stampede.loadtest.cli import main
from stampede.loadtest.commands.bench.loadgen import Generator, Load, PythonLoad, Wrk
from stampede.loadtest.commands.bench.server import (
    INVOKE_BODY,
    INVOKE_PATH,
    ServerBenchOptions,
    bare_target,
    run_server_bench,
)
from stampede.loadtest.commands.bench.waiters import measure_floor, run_bench
from stampede.loadtest.process.launcher import launched


def _stampede(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The real command line, in-process: (exit code, stdout, stderr)."""
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


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


def test_bench_waiters_json_carries_the_floor(capsys: pytest.CaptureFixture[str]) -> None:
    args = "bench waiters --json --sizes 25 --waiters to_thread,batched --repeat 1 --workers 4"
    code, out, err = _stampede(capsys, *args.split())
    assert code == 0, err
    result = json.loads(out)
    [floor] = result["floor"]
    assert floor["duplicates"] == 25 and floor["release_p99_ms"] > 0
    assert {r["waiter"] for r in result["waiters"]} == {"to_thread", "batched"}
    for row in result["waiters"]:
        assert row["floor_p99_ms"] == floor["release_p99_ms"]
        assert row["p99_vs_floor"] == pytest.approx(row["release_p99_ms"] / floor["release_p99_ms"])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["waiters", "--repeat", "0"], "--repeat '0'"),
        (["server", "--duration", "soon"], "--duration 'soon'"),
        (["server", "--rounds", "0"], "--rounds '0'"),
        (["server", "--waiters", "future,sleepy"], "'sleepy'"),
    ],
)
def test_bad_bench_values_exit_2_naming_the_value(
    capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    code, _out, err = _stampede(capsys, "bench", *args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert needle in err and "Traceback" not in err


@pytest.fixture(scope="module")
def bare() -> Iterator[str]:
    with launched(bare_target(probe=False)) as handle:
        yield handle.base_url


GENERATORS = [PythonLoad()] + ([Wrk(shutil.which("wrk") or "")] if shutil.which("wrk") else [])


@pytest.mark.parametrize("generator", GENERATORS, ids=lambda g: g.name)
def test_generators_count_answers_and_non_2xx(bare: str, generator: Generator) -> None:
    ok = generator.run(Load(bare, "/hello", method="GET", connections=2, duration_s=1))
    assert ok.requests > 0 and ok.errors == 0 and ok.non_2xx == 0
    assert ok.rps == pytest.approx(ok.requests / ok.duration_s)
    assert 0 < ok.p50_ms <= ok.p90_ms <= ok.p99_ms
    # A POST body and per-request paths: every agent id is new, each one a 200.
    posts = generator.run(Load(bare, INVOKE_PATH, body=INVOKE_BODY, connections=2, duration_s=1))
    assert posts.requests > 0 and posts.non_2xx == 0
    missing = generator.run(Load(bare, "/nope-{n}", method="GET", connections=2, duration_s=1))
    assert missing.requests > 0 and missing.non_2xx == missing.requests and missing.rps == 0


def test_server_bench_quotes_every_contender_against_its_baseline(tmp_path: Path) -> None:
    options = ServerBenchOptions(
        waiters=("batched",), connections=4, duration_s=0.5, rounds=1, warmup_s=0
    )
    result = run_server_bench(options, PythonLoad(), tmp_path)
    rows = {row["name"]: row for row in result["rows"]}
    assert list(rows) == ["bare", "server[batched]", "bare+probe", "hello", "hello+probe"]
    for row in rows.values():
        assert len(row["rps_rounds"]) == 1 and row["errors"] == row["non_2xx"] == 0
        assert row["rps"] > 0 and row["cpu_us_per_request"] > 0
        base = rows.get(row["baseline"] or "")
        # One round: the round's ratio is the figure.
        expected = None if base is None else pytest.approx(row["rps"] / base["rps"], rel=1e-2)
        assert row["ratio"] == expected
    assert result["probe_overhead"] == {
        "hello": pytest.approx(1 - rows["hello+probe"]["ratio"]),
        "invoke": pytest.approx(1 - rows["bare+probe"]["ratio"]),
    }
    assert result["probe_overhead_cpu"] == {
        "hello": pytest.approx(1 - rows["hello+probe"]["cpu_ratio"]),
        "invoke": pytest.approx(1 - rows["bare+probe"]["cpu_ratio"]),
    }
    assert result["generator"].startswith("python")


def test_only_the_probed_bare_app_exports_the_probe_metrics(bare: str) -> None:
    assert httpx.get(f"{bare}/metrics", timeout=5).status_code == 404
    with launched(bare_target(probe=True)) as probed:
        metrics = httpx.get(f"{probed.base_url}/metrics", timeout=5)
    assert metrics.status_code == 200 and "stampede_executor_max_workers" in metrics.text
