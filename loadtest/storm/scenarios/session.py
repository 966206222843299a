"""The cancelled-session storm (seed 003): a health checker opening and closing sessions."""

from __future__ import annotations

from stampede.loadtest.storm.scenarios.hazard_report import figures, hazard_summary, hazard_verdict
from stampede.loadtest.storm.scenarios.scenario import for_hazard
from stampede.server.hazards import SESSION as SPEC

SESSION = for_hazard(
    SPEC,
    "A health checker opening a WebSocket session, sending initialize and closing, at a "
    "steady rate: the bridge cancels the agent task each time, and a bare "
    "`await conn.listen()` orphans the connection's sender and dispatcher tasks until gc "
    "destroys them while pending. The server collects on a 1 s timer only "
    "(gc_mode=timer), so the orphans stay visible as live tasks between passes.",
    server_settings={"gc_mode": "timer"},
    locust_args={"health_check_interval": "0.25"},
    summary_hooks=[hazard_summary("task_destroyed_pending")],
    verdict=hazard_verdict("health check"),
    figures=figures(),
)
