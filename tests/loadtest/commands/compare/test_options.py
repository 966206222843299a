"""What compare's options make of the servers and the storm, and their cross-field checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from stampede.loadtest.commands.compare.options import (
    CompareOptions,
    pool_size,
    run_budget_s,
    server_settings,
    storm_args,
)
from stampede.loadtest.commands.compare.run import run_compare
from stampede.loadtest.storm.scenarios import SCENARIOS, resolve
from stampede.server.settings import ServerSettings, server_argv


def test_run_compare_checks_options_before_starting(tmp_path: Path) -> None:
    out = tmp_path / "results"
    with pytest.raises(ValueError, match="'nope'"):
        run_compare(CompareOptions(variants=("nope",), out=out))
    assert not out.exists()


def test_defaults_fill_the_pool_and_fit_the_budget() -> None:
    options = CompareOptions()
    # 2 emulated CPUs -> CPython's pool of min(32, 2 + 4) = 6; the default storm sends at
    # least that many same-key requests, so to_thread's waiters can hold every worker.
    assert pool_size(options) == 6
    assert int(storm_args(options)["duplicates"]) >= 6
    assert pool_size(CompareOptions(cpus=8)) == 12  # the seed's "12 workers on 8 cores"
    # The default run (3 variants of 20 s) ends within (20 + 8) x 3 + 20 = 104 s, whatever
    # its targets do.
    assert run_budget_s(options, SCENARIOS["idempotency"]) == 104


def test_scenario_all_runs_every_registered_scenario() -> None:
    assert [s.name for s in resolve("all")] == list(SCENARIOS)
    with pytest.raises(ValueError, match="'stream-typo'"):
        resolve("stream-typo")
    # A comma list runs those, in its order; a typo or a repeat is named.
    assert [s.name for s in resolve("session,idempotency")] == ["session", "idempotency"]
    with pytest.raises(ValueError, match="'strem'"):
        resolve("session,strem")
    with pytest.raises(ValueError, match="named twice"):
        resolve("session,session")


def test_one_settings_object_from_the_options_to_the_child_argv() -> None:
    # The server's settings ride in options.server; a variant's ServerSettings adds compare's
    # derived values and the scenario's override, and server_argv is the child's command line.
    options = CompareOptions(cpus=3.5, seed=7, server=ServerSettings.explicit(model_cycles=3))
    settings = server_settings(options, SCENARIOS["idempotency"], "future")
    assert (settings.cpus, settings.seed, settings.model_cycles) == (4, 7, 3)
    assert settings.waiter == "future" and settings.model_latency_ms == 500  # server default
    assert settings.stall_seconds == 6.0  # 4 x 3 model calls of 0.5 s
    argv = server_argv(settings)
    assert argv[1:4] == ["-P", "-m", "stampede.server"]
    flags = dict(zip(argv[4::2], argv[5::2], strict=True))
    assert flags["--waiter"] == "future" and flags["--cpus"] == "4"
    assert flags["--model-cycles"] == "3" and flags["--model-latency-ms"] == "500"


def test_a_bad_server_combination_names_the_setting(tmp_path: Path) -> None:
    options = CompareOptions(cpus=2000, out=tmp_path / "results")
    with pytest.raises(ValueError, match=r"server setting cpus=2000"):
        run_compare(options)
