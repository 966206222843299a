"""Fixtures shared by every test folder: free loopback ports, real servers, implementations.

Tests mirror the packages (tests/server -> stampede.server, tests/loadtest ->
stampede.loadtest); the slow end-to-end runs live in tests/e2e and the container checks in
tests/container, so `pytest tests/server` is the quick inner loop.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from stampede.loadtest.process.runlock import LOCK_ENV
from stampede.server.hazards import IDEMPOTENCY, SESSION, STREAM

from tests.serverproc import ServerProcess, free_port, start_server


@pytest.fixture(scope="session", autouse=True)
def private_run_lock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This session's own run lock. The suite's runs are serial anyway; another session on
    the same machine (CI, a colleague's suite) must not make them refuse to start."""
    previous = os.environ.get(LOCK_ENV)
    path = str(tmp_path_factory.mktemp("runlock") / "run.lock")
    os.environ[LOCK_ENV] = path
    yield path
    if previous is None:
        os.environ.pop(LOCK_ENV, None)
    else:
        os.environ[LOCK_ENV] = previous


@pytest.fixture
def port() -> int:
    """A free TCP port on 127.0.0.1."""
    return free_port()


@pytest.fixture
def server_factory() -> Iterator[Callable[..., ServerProcess]]:
    """Starts real `stampede serve` processes (settings as keyword arguments); stops them all."""
    with ExitStack() as stack:

        def start(**settings: object) -> ServerProcess:
            server = start_server(**settings)
            stack.callback(server.stop)
            return server

        yield start


@pytest.fixture(params=IDEMPOTENCY.impls)
def waiter(request: pytest.FixtureRequest) -> str:
    """Each waiter implementation in turn."""
    return str(request.param)


@pytest.fixture(params=STREAM.impls)
def stream_impl(request: pytest.FixtureRequest) -> str:
    """Each stream implementation in turn: the bug first, then the fixes."""
    return str(request.param)


@pytest.fixture(params=SESSION.impls)
def session_impl(request: pytest.FixtureRequest) -> str:
    """Stampede's own session implementations (acp needs an SDK venv: tests/e2e)."""
    return str(request.param)
