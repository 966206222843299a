"""The hazards one server runs: each registered hazard's class, for the implementation chosen.

Resolves each spec's "module:attr" when the app is built, so the registry stays plain data
that the settings can read, and an SDK-backed implementation imports its SDK only when asked
for (`--session-impl acp` loads server/sdk/acp_session.py; nothing else does).
"""

from __future__ import annotations

from stampede.server.hazards import HAZARDS
from stampede.server.hazards.base import Hazard
from stampede.server.hazards.spec import load
from stampede.server.settings import ServerSettings


def build_hazards(settings: ServerSettings) -> list[Hazard]:
    """One hazard per registered spec that has an endpoint of its own, built from `settings`."""
    hazards = []
    for spec in HAZARDS:
        ref = spec.hazard_ref(getattr(settings, spec.setting))
        if ref is not None:
            hazards.append(load(ref)(settings))
    return hazards
