"""HTTP requests in flight, as the probed app counts them: `stampede_http_requests_in_flight`.

A server that rejects (429/503) while it has nothing in flight has lost track of its capacity,
e.g. a slot taken by a request that was cancelled and never given back (litellm #27955). The
probe's middleware counts every request from its start to the end of its response, however it
ends (cancellation included), so this gauge is the server-side "in flight" such a rejection is
compared with. The `/metrics` scrape itself is not counted.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Gauge

IN_FLIGHT = "stampede_http_requests_in_flight"


def in_flight_gauge(registry: CollectorRegistry) -> Gauge:
    return Gauge(IN_FLIGHT, "HTTP requests the app is serving now.", registry=registry)


class CountInFlight:
    """ASGI middleware for an app that serves its own /metrics (the built-in server): the same
    count as the probe's MetricsEndpoint keeps, around every HTTP request but `skip_path`."""

    def __init__(self, app: Any, gauge: Gauge, skip_path: str = "/metrics") -> None:
        self.app = app
        self.gauge = gauge
        self.skip_path = skip_path

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] == self.skip_path:
            await self.app(scope, receive, send)
            return
        self.gauge.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self.gauge.dec()
