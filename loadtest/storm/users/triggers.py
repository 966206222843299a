"""The trigger of a phased storm, run by the master (or a single local runner).

`--phases baseline=..,trigger=..,recovery=..` with `--trigger slow-model:Nx` makes every target's
stub model N times slower for the trigger phase, through the server's control endpoint
(`PUT /v1/control/model`, answered to loopback callers only), and restores it afterwards and at
any stop. `spike:Nx` needs nothing here: it is part of the arrival schedule. `cpu:SHARE` needs
the harness (it owns the cgroup), so a bare Locust run ignores it with a warning.

The phases and what was applied when go into the intents file's meta line, so the analysis
splits intents by the same clock the trigger used.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any

import gevent
from locust import events
from locust.runners import WorkerRunner
from stampede.loadtest.storm.users.arguments import storm_options
from stampede.loadtest.storm.users.intents import LOG, note_meta

log = logging.getLogger("stampede.triggers")
CONTROL_PATH = "/v1/control/model"
CONTROL_TIMEOUT_S = 2.0

_state: dict[str, Any] = {"greenlet": None, "urls": []}


def set_model_factor(url: str, factor: float) -> bool:
    body = json.dumps({"latency_factor": factor}).encode()
    request = urllib.request.Request(
        url + CONTROL_PATH, data=body, method="PUT", headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=CONTROL_TIMEOUT_S) as response:
            return 200 <= response.status < 300
    except (OSError, urllib.error.URLError) as exc:
        log.error("control endpoint %s%s: %s", url, CONTROL_PATH, exc)
        return False


def _apply(urls: list[str], factor: float, key: str) -> None:
    ok = all([set_model_factor(url, factor) for url in urls])
    note_meta(**{key: round(time.time(), 4), f"{key}_ok": ok})


def run_triggers(environment: Any, urls: list[str]) -> None:
    """Sleep to the trigger phase, slow every model, sleep to its end, restore them."""
    options = storm_options(environment.parsed_options)
    window = next(p for p in options.phases if p.name == "trigger")
    assert options.trigger is not None
    t0 = float(LOG.meta.get("t0") or time.time())
    gevent.sleep(max(0.0, t0 + window.start_s - time.time()))
    _apply(urls, options.trigger.factor, "trigger_applied_at")
    gevent.sleep(max(0.0, t0 + window.end_s - time.time()))
    _apply(urls, 1.0, "trigger_cleared_at")


@events.test_start.add_listener
def _on_test_start(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    try:
        options = storm_options(environment.parsed_options)
    except ValueError:
        return  # the users report bad options; nothing to trigger
    if options.trigger is None or options.trigger.kind != "slow-model":
        if options.trigger is not None and options.trigger.kind == "cpu":
            log.warning("--trigger cpu needs `stampede compare` (it owns the cgroup); ignored")
        return
    urls = [url for _, url in options.targets] or [str(environment.host or "").rstrip("/")]
    _state["urls"] = urls
    _state["greenlet"] = gevent.spawn(run_triggers, environment, urls)


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_: Any) -> None:
    greenlet, _state["greenlet"] = _state["greenlet"], None
    if greenlet is not None:
        greenlet.kill(block=False)
        for url in _state["urls"]:  # never leave a server slowed down after the run
            set_model_factor(url, 1.0)
