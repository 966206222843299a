"""The phased storm's `--trigger cpu:SHARE`: shrink the server's CPU quota for the trigger phase.

Only the harness can do this (it owns the cgroup), so it runs in the compare runner's sampling
loop: once the load generator exports its schedule start (stampede_client_schedule_start_seconds)
the phase bounds are wall-clock times, and each sample checks whether one has passed. The quota
is set to SHARE x the requested CPUs when the trigger phase starts and restored when it ends
(within one sampling interval, 0.5 s); what was applied, and when, goes into the record.
"""

from __future__ import annotations

import time
from typing import Any

from stampede.loadtest.process.caps import CappedProcess
from stampede.loadtest.storm.users.arrival import parse_phases, parse_trigger


class CpuTrigger:
    def __init__(self, locust_args: dict[str, str], capped: CappedProcess | None) -> None:
        trigger = parse_trigger(locust_args.get("trigger", ""))
        phases = parse_phases(locust_args.get("phases", ""))
        window = next((p for p in phases if p.name == "trigger"), None)
        self.active = trigger is not None and trigger.kind == "cpu" and window is not None
        self.share = trigger.factor if trigger is not None else 1.0
        self.window = window
        self.capped = capped
        self.full = capped.request.cpus if capped is not None else None
        self.events: dict[str, Any] = {}
        self.state = "before"  # before | applied | restored

    def tick(self, row: dict[str, Any]) -> None:
        """Call once per sample with the sampler's row."""
        t0 = row.get("client_schedule_start")
        if not self.active or not isinstance(t0, int | float) or self.window is None:
            return
        now = time.time()
        if self.state == "before" and now >= t0 + self.window.start_s:
            self.state = "applied"
            self._set(self.share, "applied", now - t0)
        if self.state == "applied" and now >= t0 + self.window.end_s:
            self.state = "restored"
            self._set(1.0, "cleared", now - t0)

    def restore(self) -> None:
        """Teardown: never leave the quota shrunk (the cgroup goes away next anyway)."""
        if self.state == "applied":
            self.state = "restored"
            self._set(1.0, "cleared", None)

    def _set(self, share: float, what: str, at_s: float | None) -> None:
        if self.capped is None or self.full is None:
            self.events[f"trigger_{what}_error"] = "the server runs without a CPU cap"
            return
        enforced = self.capped.set_cpus(self.full * share)
        self.events[f"trigger_{what}_at_s"] = None if at_s is None else round(at_s, 3)
        self.events[f"cpus_{what}"] = enforced
