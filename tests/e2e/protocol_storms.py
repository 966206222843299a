"""The storms behind the protocol presets' e2e tests (tests/e2e/test_protocol_*.py, one file
per server package, so the suite's workers run them side by side).

Each preset storms the user-style apps of examples/protocols/ in their own cached venvs
(loadtest/targets/protocol_envs.py): the healthy app, a variant whose tool parks a worker thread
on an Event shared by duplicates, and one whose handler raises. The checks are on what
summary.json gives: the wedge claim, requests ok / failed by kind, and the intents' success
ratio, which counts the protocol's own terminal answer (a polled A2A task, AG-UI's
RUN_FINISHED, an MCP result without an error).

Four seconds of load per app. The healthy and failing apps are started here, all at once, as
URL targets: their imports (seconds each on a loaded 2-core machine) would otherwise eat the
storm's run budget. The wedged apps are command targets of a run of their own: compare knows
their process, so py-spy proves the wedge (a URL target can only stall).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from stampede.loadtest.targets import protocol_envs

from tests.serverproc import ROOT, free_port

MARKS = [pytest.mark.slow, pytest.mark.timeout(600)]
# A long client timeout: a healthy server on a busy machine must not fail by slowness; a wedged
# one is found by the stall (in flight, no success for --stall-seconds), not by timeouts.
# Three senders per intent and four users: up to 8 duplicates parked at once, more than the
# 6 default-executor workers of a 2-core machine, so the broken variants do wedge.
STORM = ["--duration", "4", "--users", "4", "--duplicates", "3", "--stall-seconds", "2.5"]
STORM += ["--grace", "1", "--client-timeout", "10"]
START_S = 120.0  # a cold google-adk import on a loaded 2-core box takes tens of seconds


@cache
def python_of(env: str) -> str:
    return str(protocol_envs.ensure(env, lambda message: print(message, file=sys.stderr)))


@contextlib.contextmanager
def serving(env: str, apps: dict[str, str]) -> Iterator[dict[str, str]]:
    """The apps started at once (their imports overlap), as URL targets once each accepts
    connections; stopped afterwards. Started here rather than by compare, so the storm's run
    budget is not spent on the servers' slow imports."""
    python, procs, urls = python_of(env), [], {}
    try:
        for name, app in apps.items():
            port = free_port()
            argv = [python, "-m", "uvicorn", f"examples.protocols.{app}", "--port", str(port)]
            procs.append(subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))  # fmt: skip
            urls[name] = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_S
        for proc, url in zip(procs, urls.values(), strict=True):
            while not _accepts(url):
                assert proc.poll() is None, f"{url}: the app exited with {proc.returncode}"
                assert time.monotonic() < deadline, f"{url}: not up in {START_S:.0f} s"
                time.sleep(0.2)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def _accepts(url: str) -> bool:
    port = int(url.rsplit(":", 1)[1])
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


def run(out: Path, flags: list[str]) -> dict[str, Any]:
    """One `stampede compare` run; its summary once complete, every target having run."""
    argv = [sys.executable, "-m", "stampede", "compare", *STORM, "--out", str(out)]
    argv += ["--no-progress", "--no-plots", "--wait", "900", *flags]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900)
    summary = json.loads((out / "latest" / "summary.json").read_text())
    assert summary["complete"], proc.stdout[-2000:] + proc.stderr[-2000:]
    for name, variant in summary["variants"].items():
        assert not variant.get("error"), (name, variant["error"])
    return summary


def storms(out: Path, protocol: str, apps: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """Every app's variant, two apps per storm: each variant costs a Locust start and a
    teardown (about 6 s on a loaded 2-core machine) beside its load, and a run's budget is
    duration x variants + 30 s, which three such variants overrun."""
    names = [name for name in apps if not name.startswith("wedged")]
    variants: dict[str, Any] = {}
    for first in range(0, len(names), 2):
        pair = {name: apps[name] for name in names[first : first + 2]}
        variants.update(compare(out / f"storm{first // 2}", protocol, pair)["variants"])
    # A wedge is only claimed with proof: the wedged app runs as a command target, so compare
    # knows its process and py-spy can show the parked workers (a URL target can only stall).
    for name in (name for name in apps if name.startswith("wedged")):
        env, app = apps[name]
        command = f"{python_of(env)} -m uvicorn examples.protocols.{app} --port {{port}}"
        flags = ["--protocol", protocol, "--target", f"{name}={command}"]
        variants.update(run(out / name, flags)["variants"])
    return variants


def trio(env: str, module: str, name: str) -> dict[str, tuple[str, str]]:
    """An example's three apps in `env`: healthy (as `name`), wedged and failing."""
    return {
        name: (env, f"{module}:app"),
        "wedged": (env, f"{module}:wedged_app"),
        "failing": (env, f"{module}:failing_app"),
    }


def compare(out: Path, protocol: str, apps: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """One --protocol storm, `apps` (name: (env, module:app)) as URL targets started here."""
    with contextlib.ExitStack() as stack:
        urls: dict[str, str] = {}
        for env in dict.fromkeys(env for env, _ in apps.values()):
            mine = {name: app for name, (e, app) in apps.items() if e == env}
            urls.update(stack.enter_context(serving(env, mine)))
        targets = [arg for name, url in urls.items() for arg in ("--target", f"{name}={url}")]
        return run(out, ["--protocol", protocol, *targets])


def healthy(variant: dict[str, Any], states: tuple[str, ...] = ("healthy",)) -> None:
    """The verdict's state is healthy (or one of `states`), not wedged, every request ok,
    every counted intent succeeded."""
    assert variant["state"]["state"] in states, variant["state"]
    assert variant["wedged"] is False, variant
    requests = variant["requests"]
    assert requests["ok"] > 0 and requests["failed"] == 0, requests
    intents = variant["intents"]
    assert intents["succeeded"] > 0 and intents["success_ratio"] == 1.0, intents


def wedged(variant: dict[str, Any]) -> None:
    """Wedged, and unlike a failing server, no intent got an answer at all."""
    assert variant["wedged"] is True, (variant["wedged"], variant["wedge_evidence"])
    assert variant["wedge_evidence"] == "stacks"
    assert variant["state"]["state"] == "wedged", variant["state"]
    intents = variant["intents"]
    assert intents["succeeded"] == 0 and intents["failed"] == 0, intents


def failing(variant: dict[str, Any], kind: str) -> None:
    """Its answers come back, and they are the protocol's failures of `kind`, none a success.

    A URL target cannot be looked into, so main's black box rests a wedge claim on the stall
    alone, and a server whose every answer fails is a stall too (no success with requests in
    flight): `wedged` is not asserted here. What tells it from a wedged one in main's summary
    is that its intents are answered, every one a failure of the protocol's kind.
    """
    intents = variant["intents"]
    assert intents["counted"] > 0 and intents["succeeded"] == 0, intents
    assert intents["failed_by_kind"].get(kind, 0) == intents["failed"] > 0, intents
    assert variant["requests"]["failed_by_kind"].get(kind, 0) > 0, variant["requests"]
