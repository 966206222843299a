"""Compose-style `${VAR:-default}` interpolation, as `docker compose config` does it, for the
static checks that read docker-compose.yml without an engine."""

from __future__ import annotations

import re
from typing import Any

_INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$(\w+)")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose-style ${VAR:-default} interpolation of every string value (not keys), as
    `docker compose config` does before it validates against the schema."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def fill(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3) or ""
        current = env.get(name)
        unset = current is None or (op is not None and op.startswith(":") and current == "")
        if op in ("?", ":?") and unset:
            raise AssertionError(f"${{{name}}} is required: {arg}")
        if op in ("-", ":-") and unset:
            return arg
        return current or ""

    return _INTERPOLATION.sub(fill, value)
