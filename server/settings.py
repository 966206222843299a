"""The server's settings: one pydantic-settings class, every field a `STAMPEDE_*` env var.

This class is the one carrier of a server's settings, from a flag to the child process: each
field holds the one default and the one validation that `serve`, `compare`, `plan` and the SDK
environments share. `server/cli.py` turns it into flags (`add_settings_flags`); `server_argv`
here turns it back into a child's command line, for every launcher. A harness builds it with
`ServerSettings.explicit(...)`, which ignores the caller's STAMPEDE_* variables, so what it
launches is what its report records.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from typing import Any, Literal

from pydantic import Field, ValidationInfo, create_model, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from stampede.server.hazards import HAZARDS
from stampede.server.hazards.stream.consume import CONSUME_PATTERNS, parse_patterns

# One field per registered hazard (server/hazards/): the implementation it runs, one of those
# its folder registers (the buggy pattern first, the default, then the fixes, then those served
# by a real SDK, e.g. session_impl acp). A new hazard's flag comes with its registry entry.
_hazard_fields: dict[str, Any] = {
    spec.setting: (Literal[spec.choices], Field(spec.default, description=spec.help))
    for spec in HAZARDS
}
HazardChoices: type[BaseSettings] = create_model(
    "HazardChoices", __base__=BaseSettings, **_hazard_fields
)
# Who answers invocations: Stampede's own agent loop, or a real strands.Agent (server/sdk/).
AgentImpl = Literal["builtin", "strands"]


def usable_cpu_count() -> int:
    """CPUs this process may run on (affinity-aware, like 3.13's os.process_cpu_count())."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_pool_size(cpus: int) -> int:
    """CPython's default ThreadPoolExecutor size for a host with `cpus` CPUs."""
    return min(32, cpus + 4)


class ServerSettings(HazardChoices):  # type: ignore[misc, valid-type]
    model_config = SettingsConfigDict(env_prefix="STAMPEDE_", extra="ignore")

    allow_remote: bool = Field(
        False, description="allow --host to be a non-loopback address (other machines can call)"
    )
    host: str = Field("127.0.0.1", description="address to bind (loopback unless --allow-remote)")
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0: any free port)")
    cpus: int | None = Field(
        None, ge=1, le=1024, description="emulated host CPUs the pool is sized from"
    )
    executor_workers: int | None = Field(
        None, ge=1, le=4096, description="default-executor size, overriding min(32, cpus + 4)"
    )
    model_latency_ms: float = Field(
        500.0, ge=0, le=600_000, description="how long each blocking model call takes"
    )
    model_jitter_ms: float = Field(
        0.0, ge=0, le=600_000, description="seeded random extra latency, 0..jitter"
    )
    model_cycles: int = Field(2, ge=1, le=100, description="model calls per invocation")
    model_error_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="share of model calls that throw ThrottlingException"
    )
    duplicate_timeout_s: float | None = Field(
        None, gt=0, description="a duplicate waiting longer gets 504 (none: wait forever)"
    )
    seed: int = Field(0, description="seed for the model's jitter and errors")
    idempotency_mode: Literal["throw", "replay"] = Field(
        "throw",
        description="throw: keys are forgotten when the primary finishes (Strands' THROW); "
        "replay: the first answer per key is kept and replayed to later retries",
    )
    replay_ttl_s: float = Field(
        300.0, gt=0, le=604_800, description="replay mode: seconds an answer is kept per key"
    )
    stall_seconds: float = Field(
        10.0, gt=0, description="requests in flight and none finished this long: stalled"
    )
    stream_events: int = Field(20, ge=1, le=10_000, description="events per stream")
    stream_interval_ms: float = Field(
        100.0, ge=0, le=60_000, description="pause before each stream event"
    )
    stream_consume: str = Field(
        ",".join(CONSUME_PATTERNS),
        description="claude-agent-sdk impl: how the endpoint consumes query(), one pattern "
        "per stream in turn: relay (the client may hang up), break (after k), flag "
        "(background consumer stopped by a flag), cancel (background consumer cancelled)",
    )
    stream_break_after: int = Field(
        3, ge=1, le=10_000, description="k: messages the server-side consume patterns take"
    )
    gc_interval_s: float = Field(
        1.0, gt=0, le=3600, description="seconds between the runtime's gc passes"
    )
    gc_mode: Literal["auto", "timer"] = Field(
        "auto",
        description="timer: turn off allocation-triggered gc so only the timer collects, "
        "which keeps leaked tasks visible between passes",
    )
    agent: AgentImpl = Field(
        "builtin", description="builtin agent loop, or strands (needs strands-agents)"
    )
    max_body_bytes: int = Field(
        1 << 20,
        ge=1024,
        le=1 << 30,
        description="largest request body and JSON-RPC frame; a larger body gets 413",
    )
    max_concurrency: int = Field(
        1024,
        ge=1,
        le=1_000_000,
        description="agent requests and sessions in progress at once; more get 503 overloaded",
    )
    max_sessions_per_connection: int = Field(
        64, ge=1, le=100_000, description="session/new calls one WebSocket connection may make"
    )
    stream_max_duration_s: float = Field(
        60.0,
        gt=0,
        le=86_400,
        description="longest SSE stream: events x interval is cut to fit, and it ends by then",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = False

    @field_validator("duplicate_timeout_s", "cpus", "executor_workers", mode="before")
    @classmethod
    def _none_word(cls, value: object) -> object:
        # "none" on the command line or in the environment means "no limit / auto".
        if isinstance(value, str) and value.strip().lower() in {"", "none", "auto"}:
            return None
        return value

    @field_validator("stream_consume")
    @classmethod
    def _consume(cls, value: str) -> str:
        return ",".join(parse_patterns(value))

    @field_validator("host")
    @classmethod
    def _host(cls, value: str, info: ValidationInfo) -> str:
        if value == "localhost":
            return value
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"not an IP address: {value!r}") from None
        # allow_remote is declared before host, so it is already validated here.
        if not address.is_loopback and not info.data.get("allow_remote", False):
            raise ValueError(
                f"{value} is not a loopback address; pass --allow-remote to serve other machines"
            )
        return value

    @classmethod
    def explicit(cls, **values: Any) -> ServerSettings:
        """These values over the defaults, validated as flags are; STAMPEDE_* variables are
        ignored. Raises pydantic's ValidationError naming the field."""
        return _ExplicitSettings(**values)

    def given(self) -> dict[str, Any]:
        """The fields set explicitly (by a flag, a variable or a caller), as Python values."""
        return self.model_dump(include=self.model_fields_set)

    def merged(self, **overrides: Any) -> ServerSettings:
        """A validated copy with `overrides` on top (model_copy would skip validation)."""
        return ServerSettings.explicit(**(self.given() | overrides))

    @property
    def effective_cpus(self) -> int:
        return self.cpus if self.cpus is not None else usable_cpu_count()

    @property
    def pool_size(self) -> int:
        if self.executor_workers is not None:
            return self.executor_workers
        return default_pool_size(self.effective_cpus)


# `python -m stampede.server`: the server without the harness.
MODULE = "stampede.server"


def flag_of(field: str) -> str:
    return "--" + field.replace("_", "-")


def settings_flags(settings: ServerSettings) -> dict[str, str]:
    """Every explicitly set field as the text its flag takes (what a report records)."""
    return {name: _text(value) for name, value in settings.given().items()}


def server_argv(settings: ServerSettings, python: str | None = None) -> list[str]:
    """The command line that runs a server with exactly `settings`: every explicitly set field
    as its flag. `python` is the interpreter (an SDK variant's venv; default this one); -P
    keeps the working directory off sys.path, so the installed `stampede` is the one run."""
    argv = [python or sys.executable, "-P", "-m", MODULE]
    for name, text in settings_flags(settings).items():
        if ServerSettings.model_fields[name].annotation is bool:  # store_const: present means true
            argv += [flag_of(name)] if text == "true" else []
        else:
            argv += [flag_of(name), text]
    return argv


def _text(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 500.0 -> "500", as a user would type it
    return str(value)


class _ExplicitSettings(ServerSettings):
    """ServerSettings whose only source is the constructor's arguments."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        **others: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:  # fmt: skip
        return (init_settings,)
