"""`stampede compare` argument handling: bad values exit 2 naming the value, start nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loadtest import cli
from loadtest.compare import CompareOptions, budget_s, pool_size, run_compare, storm_args
from loadtest.scenarios import SCENARIOS, resolve


@pytest.fixture(autouse=True)
def fresh_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    # cli.main() appends the extra subcommands to a module-level list on every call; start
    # each test from an empty one so calling main() twice in one process works.
    monkeypatch.setattr(cli, "EXTRA_COMMANDS", [])


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
        [sys.executable, "-m", "loadtest.cli", "compare", "--memory", "12Q", "--out", str(out)],
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
