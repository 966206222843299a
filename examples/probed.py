"""The example apps with `stampede.probe.install(app)`: the one line that makes detection exact.

    uvicorn --factory examples.probed:to_thread_cache --port 8000
    uvicorn --factory examples.probed:future_cache --port 8000

Each factory builds the example's app and installs the probe on it, so /metrics serves
Stampede's metric names and `stampede compare --target` reads the wedge, loop errors and live
tasks from inside the server (evidence "exact").
"""

from __future__ import annotations

import stampede.probe
from fastapi import FastAPI

from examples import (
    busy_model,
    chatty_logs,
    idempotency_cache,
    session_workers,
    slot_limiter,
    sse_relay,
    ws_bridge,
)
from examples import shared_agent_app as shared_agent_app_module
from examples import thread_limiter_app as thread_limiter_app_module


def _probed(app: FastAPI) -> FastAPI:
    stampede.probe.install(app)
    return app


def to_thread_cache() -> FastAPI:
    return _probed(idempotency_cache.create_app(wait_with_future=False))


def future_cache() -> FastAPI:
    return _probed(idempotency_cache.create_app(wait_with_future=True))


def busy() -> FastAPI:
    return _probed(busy_model.create_app())


def chatty() -> FastAPI:
    return _probed(chatty_logs.create_app())


def sse_relay_app() -> FastAPI:
    return _probed(sse_relay.create_app(fixed=False))


def sse_relay_fixed() -> FastAPI:
    return _probed(sse_relay.create_app(fixed=True))


def ws_bridge_app() -> FastAPI:
    return _probed(ws_bridge.create_app(fixed=False))


def ws_bridge_fixed() -> FastAPI:
    return _probed(ws_bridge.create_app(fixed=True))


def thread_limiter_app() -> FastAPI:
    return _probed(thread_limiter_app_module.create_app(own_limiter=False))


def thread_limiter_fixed() -> FastAPI:
    return _probed(thread_limiter_app_module.create_app(own_limiter=True))


def slot_limiter_app() -> FastAPI:
    return _probed(slot_limiter.create_app(release_in_finally=False))


def slot_limiter_fixed() -> FastAPI:
    return _probed(slot_limiter.create_app(release_in_finally=True))


def shared_agent_app() -> FastAPI:
    return _probed(shared_agent_app_module.create_app(per_session=False))


def shared_agent_fixed() -> FastAPI:
    return _probed(shared_agent_app_module.create_app(per_session=True))


def session_workers_app() -> FastAPI:
    return _probed(session_workers.create_app(close_sessions=False))


def session_workers_fixed() -> FastAPI:
    return _probed(session_workers.create_app(close_sessions=True))
