"""ServerSettings, the one carrier: explicit values ignore the environment, and `server_argv`
is the exact inverse of the server's own flags."""

from __future__ import annotations

import argparse

import pytest
from stampede.server.cli import add_settings_flags, settings_from
from stampede.server.settings import ServerSettings, server_argv


def _parsed(argv: list[str]) -> ServerSettings:
    parser = argparse.ArgumentParser()
    add_settings_flags(parser, ServerSettings)
    return settings_from(parser.parse_args(argv), ServerSettings, "test", environment=False)


def test_explicit_settings_ignore_the_callers_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STAMPEDE_MODEL_CYCLES", "9")
    assert ServerSettings().model_cycles == 9  # `stampede serve` honours the variable
    assert ServerSettings.explicit().model_cycles == 2  # a launcher does not
    assert ServerSettings.explicit(model_cycles="3").merged(seed=4).given() == {
        "model_cycles": 3,
        "seed": 4,
    }


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"waiter": "future", "cpus": 3, "model_latency_ms": 12.5, "model_cycles": 1},
        {"executor_workers": None, "duplicate_timeout_s": 0.25, "access_log": True},
        {"session_impl": "closing", "gc_mode": "timer", "gc_interval_s": 3, "seed": -7},
    ],
)
def test_server_argv_round_trips_through_the_servers_flags(values: dict) -> None:
    settings = ServerSettings.explicit(**values)
    argv = server_argv(settings, python="/venv/bin/python")
    assert argv[:4] == ["/venv/bin/python", "-P", "-m", "stampede.server"]
    back = _parsed(argv[4:])
    assert back.model_dump() == settings.model_dump()
    # access_log=False has no flag of its own: it is the default the child gets anyway.
    assert back.given() == {k: v for k, v in settings.given().items() if v is not False}
