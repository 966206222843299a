"""`stampede compare` argument handling: bad values exit 2 naming the value, start nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from stampede.loadtest import cli
from stampede.loadtest.compare import (
    MEASURED_MARGIN_S,
    MIN_VARIANT_S,
    OVERHEAD_GUESS_S,
    REPORT_RESERVE_S,
    SLACK_S,
    TEARDOWN_GUESS_S,
    CompareOptions,
    budget_s,
    pool_size,
    run_compare,
    storm_args,
    variant_cap,
)
from stampede.loadtest.scenarios import SCENARIOS, resolve


def main(argv: list[str]) -> int:
    return cli.main(argv)


BAD = [
    (["--variants", "to_thread,bogus"], "'bogus'"),
    (["--duration", "-5"], "'-5'"),
    (["--duration", "abc"], "'abc'"),
    (["--duration", "nan"], "'nan'"),
    (["--memory", "12Q"], "'12Q'"),
    (["--cpus", "0"], "'0'"),
    (["--users", "0"], "'0'"),
    (["--pids", "-1"], "'-1'"),
    (["--scenario", "nope"], "'nope'"),
    (["--retry-policy", "sometimes"], "'sometimes'"),
    (["--model-cycles", "0"], "'0'"),
]


@pytest.mark.parametrize(("argv", "named"), BAD)
def test_bad_value_exits_2_naming_it(
    argv: list[str], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results"
    with pytest.raises(SystemExit) as exc:
        main(["compare", *argv, "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stampede compare: error:"), err
    assert named in err and "\n" not in err, err
    assert not out.exists(), "a refused run must not create its results directory"


def test_real_entry_point_refuses_without_traceback(tmp_path: Path) -> None:
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "stampede", "compare", "--memory", "12Q", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "'12Q'" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not out.exists()


def test_run_compare_checks_options_before_starting(tmp_path: Path) -> None:
    out = tmp_path / "results"
    with pytest.raises(ValueError, match="'nope'"):
        run_compare(CompareOptions(variants=("nope",), out=out))
    assert not out.exists()


def test_out_must_not_be_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "a-file"
    target.write_text("x")
    with pytest.raises(SystemExit):
        main(["compare", "--out", str(target)])
    assert "a-file" in capsys.readouterr().err


def test_defaults_fill_the_pool_and_fit_the_budget() -> None:
    options = CompareOptions()
    # 2 emulated CPUs -> CPython's pool of min(32, 2 + 4) = 6; the default storm sends at
    # least that many same-key requests, so to_thread's waiters can hold every worker.
    assert pool_size(options) == 6
    assert int(storm_args(options)["duplicates"]) >= 6
    assert pool_size(CompareOptions(cpus=8)) == 12  # the seed's "12 workers on 8 cores"
    assert budget_s(options, SCENARIOS["idempotency"]) <= 90


def test_scenario_all_runs_every_registered_scenario() -> None:
    assert [s.name for s in resolve("all")] == list(SCENARIOS)
    with pytest.raises(ValueError, match="'stream-typo'"):
        resolve("stream-typo")


def simulate(variants: int, duration_s: float, startup_s: float, teardown_s: float,
             misbehave: bool) -> tuple[list[float], float, float]:  # fmt: skip
    """Plan a run the way compare_run does, each variant measured after it ran.

    Well-behaved variants use start-up + duration + teardown; misbehaving ones run to their
    cap and then take every teardown wait in full (as far as the runner's cut allows).
    Returns (each variant's time for start-up and load, when the run ended, its budget).
    """
    from stampede.loadtest.runner import LOCUST_STOP_S, SERVER_STOP_S, SETTLE_S, TEARDOWN_MIN_S

    budget = duration_s * variants + SLACK_S
    hard_end = budget - REPORT_RESERVE_S
    now, given, overheads, teardowns = 0.0, [], [], []
    for index in range(variants):
        measured = bool(overheads)
        cap = variant_cap(
            now=now, hard_end=hard_end, later=variants - index - 1, duration_s=duration_s,
            overhead_s=max(overheads) + MEASURED_MARGIN_S if measured else OVERHEAD_GUESS_S,
            teardown_s=max(teardowns) + MEASURED_MARGIN_S if measured else TEARDOWN_GUESS_S,
            teardown_min_s=TEARDOWN_MIN_S,
        )  # fmt: skip
        if cap - now < MIN_VARIANT_S:
            given.append(0.0)
            continue
        given.append(cap - now)
        if misbehave:
            worst = LOCUST_STOP_S + SETTLE_S + 1.5 + SERVER_STOP_S  # the waits the runner cuts
            cut = max(0.0, min(worst, hard_end - TEARDOWN_MIN_S - cap))
            end = cap + cut + TEARDOWN_MIN_S
        else:
            end = min(cap, now + startup_s + duration_s) + teardown_s
        overheads.append(end - now - duration_s)
        teardowns.append(teardown_s)
        now = end
    return given, now + REPORT_RESERVE_S, budget


@pytest.mark.parametrize("variants", [1, 2, 3, 4])
@pytest.mark.parametrize("duration_s", [3.0, 20.0])
def test_every_variant_gets_its_start_up_and_load(variants: int, duration_s: float) -> None:
    # Start-up and teardown as measured on 2 cores (~2.1 s: server, its first gc pass, Locust;
    # ~1.3 s with the final gc pass) with headroom. With these, 4 variants fit the 30 s slack
    # next to the report's and the last teardown's reserves; the first variant is planned with
    # the overhead guess, the later ones with the measured overhead.
    startup_s, teardown_s = 3.0, 1.5
    given, ended, budget = simulate(variants, duration_s, startup_s, teardown_s, False)
    assert all(g >= startup_s + duration_s for g in given), given
    assert ended <= budget


@pytest.mark.parametrize("variants", [1, 2, 3, 6])
def test_run_ends_within_budget_whatever_the_target_does(variants: int) -> None:
    # Every variant holds on to its cap and to every teardown wait: later ones get squeezed
    # (or skipped), but the run, report included, still ends within its budget.
    given, ended, budget = simulate(variants, 3.0, 3.0, 1.5, True)
    assert ended <= budget + 1e-9, (ended, budget, given)
    assert given[0] >= 3.0 + 3.0, "the first variant is not starved by the guess"


def test_measured_overhead_replaces_the_guess() -> None:
    # With a small measured overhead the current variant may use what the guess reserved.
    common = {"now": 0.0, "hard_end": 35.0, "later": 2, "duration_s": 3.0, "teardown_s": 2.0,
              "teardown_min_s": 6.0}  # fmt: skip
    guessed = variant_cap(overhead_s=OVERHEAD_GUESS_S, **common)
    measured = variant_cap(overhead_s=3.0, **common)
    assert measured - guessed == pytest.approx(2 * (OVERHEAD_GUESS_S - 3.0))
    # Never closer to the hard end than a cut teardown needs, however little is left after.
    assert variant_cap(overhead_s=0.0, **{**common, "later": 0}) == 35.0 - 6.0
