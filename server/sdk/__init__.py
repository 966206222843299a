"""Real SDKs as the system under test: strands-agents, agent-client-protocol, claude-agent-sdk.

All are optional dependencies (`pip install -e '.[sdk]'` for the first two; claude-agent-sdk,
~300-460 MB with its bundled CLI, is installed on its own or in `compare --sdk`'s cached venvs):
nothing here imports them unless `--agent strands`, `--shared-agent-impl strands`,
`--session-impl acp` or `--stream-impl claude-agent-sdk` asks for one, and then a missing or too
old SDK is one clear error (SdkMissingError, which `stampede serve` reports as a usage error).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from types import ModuleType
from typing import TYPE_CHECKING

from stampede.server.settings import ServerSettings

if TYPE_CHECKING:  # the web stack loads with a hazard, not with a version check
    from stampede.server.hazards.base import Hazard

STRANDS = "strands-agents"
ACP = "agent-client-protocol"
CLAUDE = "claude-agent-sdk"
# The first releases with what Stampede drives: strands' idempotency_token (THROW mode);
# acp's run_agent(agent, StreamWriter, StreamReader) with the session_update helpers;
# claude-agent-sdk's query(prompt=, options=, transport=) over the control protocol.
MINIMUM = {STRANDS: (1, 45, 0), ACP: (0, 7, 0), CLAUDE: (0, 1, 0)}
# `--shared-agent-impl strands` needs far less of strands: an Agent with a custom Model,
# `invoke_async` and NullConversationManager, all there from 1.0.0 (measured on 1.0.0, 1.21.0,
# 1.22.0 and 1.62.0). It has to reach below 1.22.0, where PR #1453's lock arrived.
SHARED_AGENT_MINIMUM = (1, 0, 0)


class SdkMissingError(RuntimeError):
    """The SDK a setting asks for is not installed here, or is too old."""


def release(version: str) -> tuple[int, ...]:
    """The leading numeric release of a version string: "1.62.0rc1" -> (1, 62, 0)."""
    match = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def sdk_version(distribution: str, setting: str, minimum: tuple[int, ...] | None = None) -> str:
    """The installed version of `distribution`; SdkMissingError naming the setting if unusable
    (not installed, or older than `minimum`, by default MINIMUM's floor for it)."""
    try:
        version = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise SdkMissingError(
            f"{setting} needs {distribution}, which is not installed "
            f"(pip install {distribution}, or pip install -e '.[sdk]')"
        ) from None
    minimum = MINIMUM[distribution] if minimum is None else minimum
    if release(version) < minimum:
        raise SdkMissingError(
            f"{setting} needs {distribution} >= {'.'.join(map(str, minimum))}, found {version}"
        )
    return version


def strands_module() -> ModuleType:
    """server.sdk.strands_agent, once strands-agents is known to be usable."""
    sdk_version(STRANDS, "--agent strands")
    return importlib.import_module("stampede.server.sdk.strands_agent")


def strands_shared_module() -> ModuleType:
    """server.sdk.strands_shared, once strands-agents is known to be usable for it."""
    sdk_version(STRANDS, "--shared-agent-impl strands", SHARED_AGENT_MINIMUM)
    return importlib.import_module("stampede.server.sdk.strands_shared")


def strands_shared_hazard(settings: ServerSettings) -> Hazard:
    """The shared-agent hazard for `--shared-agent-impl strands` (server/hazards/shared_agent/)."""
    hazard: Hazard = strands_shared_module().StrandsSharedAgentHazard(settings)
    return hazard


def acp_module() -> ModuleType:
    """server.sdk.acp_session, once agent-client-protocol is known to be usable."""
    sdk_version(ACP, "--session-impl acp")
    return importlib.import_module("stampede.server.sdk.acp_session")


def acp_session_hazard(settings: ServerSettings) -> Hazard:
    """The session hazard for `--session-impl acp` (registered in server/hazards/session/)."""
    hazard: Hazard = acp_module().AcpSessionHazard(settings)
    return hazard


def claude_stream_module() -> ModuleType:
    """server.sdk.claude_stream, once claude-agent-sdk is known to be usable."""
    sdk_version(CLAUDE, "--stream-impl claude-agent-sdk")
    return importlib.import_module("stampede.server.sdk.claude_stream")


def claude_stream_hazard(settings: ServerSettings) -> Hazard:
    """The stream hazard for `--stream-impl claude-agent-sdk` (server/hazards/stream/)."""
    hazard: Hazard = claude_stream_module().ClaudeStreamHazard(settings)
    return hazard
