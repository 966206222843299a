"""Fixtures shared by every test folder: free loopback ports, real servers, implementations.

Tests mirror the packages (tests/server -> stampede.server, tests/loadtest ->
stampede.loadtest); the slow end-to-end runs live in tests/e2e and the container checks in
tests/container, so `pytest tests/server` is the quick inner loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from stampede.server.hazards import IDEMPOTENCY, SESSION, STREAM

from tests.serverproc import ServerProcess, free_port, start_server


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
