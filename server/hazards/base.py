"""What every hazard's server class provides to the app and to `/v1/status`.

A hazard's class (named by its spec, server/hazards/<name>/__init__.py) is built from the
server settings and exposes a router with its endpoints, the implementation it runs (chosen by
the spec's settings field), the implementations that exist, and its event counts. The app
mounts each router; `/v1/status` shows `hazard_status()` of each. `SpecHazard` fills those in
from the class's spec, so a built-in hazard writes only its endpoints.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar, Protocol

from fastapi import APIRouter
from stampede.server.hazards.spec import HazardSpec
from stampede.server.settings import ServerSettings

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


class SpecHazard:
    """A Hazard whose fields come from its class's `spec`: name, setting and impls from the
    spec, impl from the settings field the spec names (so the two cannot disagree), no counts
    yet and an empty router for the subclass's endpoints."""

    spec: ClassVar[HazardSpec]
    name: str
    setting: str
    impls: tuple[str, ...]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.name, cls.setting, cls.impls = cls.spec.name, cls.spec.setting, cls.spec.choices

    def __init__(self, settings: ServerSettings) -> None:
        self.impl: str = getattr(settings, self.spec.setting)
        self.counts: Counter[str] = Counter()
        self.router = APIRouter()

    def status(self) -> dict[str, object]:
        return hazard_status(self)
