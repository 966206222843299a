"""`stampede.probe`: exact hazard detection inside any asyncio server, in one line.

    import stampede.probe
    stampede.probe.install(app)            # FastAPI / Starlette: hooks the app's lifespan

    stampede.probe.install()               # any other asyncio program, from its running loop
    stampede.probe.serve_metrics(9100)     # ... and /metrics on a port of its own

It installs the instrumented default executor (busy, queued, and workers parked in a wait
primitive versus working), the loop exception handler (chained to one already there), loop
lag and live tasks by coroutine name, and the wedge detector, all exported under Stampede's
metric names so `stampede compare` and the dashboards read a probed server as they read the
built-in one. The built-in server is built on this same package.

Layering: the probe depends on the standard library, prometheus-client and psutil only; it
never imports the server or the harness.
"""

from stampede.probe.executor import InstrumentedExecutor, tagged
from stampede.probe.install import current, install, serve_metrics
from stampede.probe.probe import Probe

__all__ = ["InstrumentedExecutor", "Probe", "current", "install", "serve_metrics", "tagged"]
