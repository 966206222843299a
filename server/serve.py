"""Run the app under uvicorn, making sure even a wedged server exits promptly on a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from types import FrameType

import uvicorn
from stampede.server.app import create_app
from stampede.server.settings import ServerSettings

log = logging.getLogger("stampede.server")

# Longer than a healthy request needs to drain, short enough to stay inside 5 s when wedged.
GRACEFUL_SHUTDOWN_S = 3
# Open connections (idle keep-alive ones too) uvicorn takes per unit of --max-concurrency
# before it answers 503 itself; the app's own limit on agent work trips first.
CONNECTIONS_PER_REQUEST = 2
# The largest WebSocket message uvicorn reads; a JSON-RPC frame over --max-body-bytes but
# under this gets a JSON-RPC error, a larger one closes the connection (1009).
WS_MAX_MESSAGE_BYTES = 16 << 20


class _Server(uvicorn.Server):
    """Aborts in-flight invocations the moment a shutdown signal arrives.

    uvicorn waits for open requests before running the lifespan shutdown; a wedged request
    never ends by itself, and parked waiter threads would block interpreter exit too.
    """

    def __init__(self, config: uvicorn.Config, abort: object) -> None:
        super().__init__(config)
        self._abort = abort
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list | None = None) -> None:  # type: ignore[override]
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's INT/TERM handling, plus SIGHUP treated the same way (a closed terminal
        or a harness's teardown must stop the server cleanly, never kill it mid-request)."""
        with super().capture_signals():
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = signal.signal(signal.SIGHUP, self.handle_exit)
            try:
                yield
            finally:  # restored before uvicorn re-raises the captured signal
                signal.signal(signal.SIGHUP, previous)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._loop is not None and not self.should_exit:
            self._loop.call_soon_threadsafe(self._abort)  # type: ignore[arg-type]
        super().handle_exit(sig, frame)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def serve(settings: ServerSettings) -> None:
    configure_logging(settings.log_level)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        limit_concurrency=CONNECTIONS_PER_REQUEST * settings.max_concurrency,
        ws_max_size=max(WS_MAX_MESSAGE_BYTES, settings.max_body_bytes),
        lifespan="on",
    )
    _Server(config, app.state.runtime.abort).run()
