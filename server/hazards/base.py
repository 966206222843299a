"""What every hazard's server class provides to the app and to `/v1/status`.

A hazard's class (named by its spec, server/hazards/<name>/__init__.py) is built from the
server settings and exposes a router with its endpoints, the implementation it runs (chosen by
the spec's settings field), the implementations that exist, and its event counts. The app
mounts each router; `/v1/status` shows `hazard_status()` of each.
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from fastapi import APIRouter

# The same agent-id rule as the invocations endpoint.
AGENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


class Hazard(Protocol):
    name: str
    setting: str
    impls: tuple[str, ...]
    impl: str
    router: APIRouter
    counts: Counter[str]

    def status(self) -> dict[str, object]: ...


def hazard_status(hazard: Hazard, **extra: object) -> dict[str, object]:
    """The common status shape: which impl runs, which exist, and event counts."""
    return {
        "impl": hazard.impl,
        "impls": list(hazard.impls),
        "setting": hazard.setting,
        "counts": dict(sorted(hazard.counts.items())),
        **extra,
    }
