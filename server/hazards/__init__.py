"""The hazard registry: each seed hazard is one module here plus its Locust user.

The app mounts every hazard's router and `/v1/status` lists every hazard's implementation and
counts; adding a hazard means adding its class to HAZARD_TYPES, nothing else.
"""

from __future__ import annotations

from stampede.server.hazards.base import Hazard
from stampede.server.hazards.session import SessionHazard
from stampede.server.hazards.stream import StreamHazard
from stampede.server.settings import ServerSettings

HAZARD_TYPES: tuple[type, ...] = (StreamHazard, SessionHazard)


def build_hazards(settings: ServerSettings) -> list[Hazard]:
    return [_session_type(cls, settings)(settings) for cls in HAZARD_TYPES]


def _session_type(cls: type, settings: ServerSettings) -> type:
    # --session-impl acp serves the same endpoint with the real agent-client-protocol SDK, an
    # optional dependency: imported only when asked for (server/sdk/acp_session.py).
    if cls is SessionHazard and settings.session_impl == "acp":
        from stampede.server.sdk import acp_module

        return acp_module().AcpSessionHazard  # type: ignore[no-any-return]
    return cls


__all__ = ["HAZARD_TYPES", "Hazard", "build_hazards"]
