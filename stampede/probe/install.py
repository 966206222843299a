"""One line to probe a server: `install(app)` for an ASGI app with a lifespan (FastAPI,
Starlette), `install()` from inside any running asyncio program plus `serve_metrics(port)`.

For an app, the probe starts when the app's lifespan starts (before the app's own start-up, so
the app's own `to_thread` calls already run on the instrumented executor) and stops after the
app's shut-down. A small ASGI middleware serves `GET /metrics` and counts hazard errors that
escape the app (uvicorn logs them as "Exception in ASGI application"), each once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest, start_http_server
from stampede.probe.loop_errors import ASGIApp, Receive, Scope, Send
from stampede.probe.probe import Probe

_installed: Probe | None = None


def current() -> Probe | None:
    """The probe `install` made last in this process, if any."""
    return _installed


def install(
    app: Any = None, *, max_workers: int | None = None, metrics_path: str = "/metrics"
) -> Probe:
    """Probe `app` (hooks its lifespan), or, with no app, the running event loop now.

    max_workers: the default executor's size; None keeps CPython's `min(32, cpus + 4)`.
    Returns the Probe.
    """
    global _installed
    probe = Probe(max_workers=max_workers)
    if app is None:
        try:
            probe.start(asyncio.get_running_loop())
        except RuntimeError:
            raise RuntimeError(
                "stampede.probe.install() without an app needs a running event loop: call it "
                "first thing in your async main(), or pass your ASGI app"
            ) from None
    else:
        _hook_lifespan(app, probe)
        app.add_middleware(MetricsEndpoint, probe=probe, path=metrics_path)
    _installed = probe
    return probe


def serve_metrics(port: int, addr: str = "127.0.0.1", probe: Probe | None = None) -> Any:
    """Serve the probe's /metrics on its own port (a thread); returns the HTTP server."""
    probe = probe or _installed
    if probe is None:
        raise RuntimeError("stampede.probe.serve_metrics(): call stampede.probe.install() first")
    server, _thread = start_http_server(port, addr=addr, registry=probe.registry)
    return server


def _hook_lifespan(app: Any, probe: Probe) -> None:
    router = getattr(app, "router", None)
    inner = getattr(router, "lifespan_context", None)
    if inner is None:
        raise TypeError(
            f"stampede.probe.install(app): {type(app).__name__} has no router.lifespan_context; "
            "pass a FastAPI or Starlette app, or call install() inside your event loop"
        )

    @contextlib.asynccontextmanager
    async def probed(app_: Any) -> AsyncIterator[Any]:
        probe.start()
        try:
            async with inner(app_) as state:
                yield state
        finally:
            await probe.stop()

    router.lifespan_context = probed


class MetricsEndpoint:
    """ASGI middleware: answers GET `path` with the probe's metrics and counts escaping hazard
    errors; everything else goes to the app untouched."""

    def __init__(self, app: ASGIApp, probe: Probe, path: str = "/metrics") -> None:
        self.app = app
        self.probe = probe
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # One layer for both jobs: every request pays for one extra call, not two.
        if scope["type"] == "http" and scope["path"] == self.path:
            body = generate_latest(self.probe.registry)
            headers = [(b"content-type", CONTENT_TYPE_LATEST.encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        counted = scope["type"] == "http"
        if counted:
            self.probe.http_in_flight.inc()
        try:
            await self.app(scope, receive, send)
        except BaseException as exc:  # as CountAsgiErrors: count hazard errors, then re-raise
            self.probe.detector.asgi_error(exc)
            raise
        finally:
            if counted:  # however the request ended, cancellation included
                self.probe.http_in_flight.dec()
