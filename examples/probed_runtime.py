"""The sync-tool, deadline-tools and session-store examples with `stampede.probe.install(app)`.

    uvicorn --factory examples.probed_runtime:sync_tool_app --port 8000
    uvicorn --factory examples.probed_runtime:session_store_fixed --port 8000

With the probe, /metrics serves the loop's lag, its thread's CPU time and its live tasks, and
`stampede compare --target` decides loop blocking, spinning and leaking on them (evidence
"exact"). The apps themselves are unchanged.
"""

from __future__ import annotations

import stampede.probe
from fastapi import FastAPI

from examples import deadline_tools, session_store, sync_tool


def _probed(app: FastAPI) -> FastAPI:
    stampede.probe.install(app)
    return app


def sync_tool_app() -> FastAPI:
    return _probed(sync_tool.create_app(fixed=False))


def sync_tool_fixed() -> FastAPI:
    return _probed(sync_tool.create_app(fixed=True))


def deadline_tools_app() -> FastAPI:
    return _probed(deadline_tools.create_app(fixed=False))


def deadline_tools_fixed() -> FastAPI:
    return _probed(deadline_tools.create_app(fixed=True))


def session_store_app() -> FastAPI:
    return _probed(session_store.create_app(fixed=False))


def session_store_fixed() -> FastAPI:
    return _probed(session_store.create_app(fixed=True))
