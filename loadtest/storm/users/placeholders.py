"""Placeholders in a workload's paths, headers and bodies, and the file's `[params]`.

Run time: `{prompt}`, `{key}` (the intent's key, shared by its duplicates and retries),
`{agent}`, `{n}` (a per-attempt counter, for JSON-RPC ids), `{uuid}` (fresh per attempt) and
every name a setup step or the invoke request captured. A string that is exactly one
placeholder takes the value's own type (`id = "{n}"` sends a number); an empty header is not
sent, so an optional capture (a stateless MCP server's missing session id) drops its header.

Load time: `{param.NAME}` is replaced by the file's `[params]` value or the command line's
`--protocol-arg NAME=VALUE`, before the run-time names are checked. Pure: no Locust.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

NAME = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
PARAM = re.compile(r"\{param\.([A-Za-z_][A-Za-z0-9_-]*)\}")
PER_INTENT = ("prompt", "key", "agent")  # need an intent: not in a user-scoped setup step
PER_ATTEMPT = ("n", "uuid")
BUILTINS = (*PER_INTENT, *PER_ATTEMPT)


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON-like value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)


def names_in(value: Any) -> set[str]:
    return {match for text in strings(value) for match in NAME.findall(text)}


def fill(value: Any, context: Mapping[str, Any]) -> Any:
    """`value` with every known placeholder replaced (unknown ones were refused at load)."""
    if isinstance(value, str):
        whole = NAME.fullmatch(value)
        if whole and whole.group(1) in context:
            return context[whole.group(1)]
        return NAME.sub(lambda m: _text(context.get(m.group(1), m.group(0))), value)
    if isinstance(value, list | tuple):
        return [fill(item, context) for item in value]
    if isinstance(value, dict):
        return {fill(str(k), context): fill(v, context) for k, v in value.items()}
    return value


def fill_headers(headers: Mapping[str, str], context: Mapping[str, Any]) -> dict[str, str]:
    filled = {name: _text(fill(value, context)) for name, value in headers.items()}
    return {name: value for name, value in filled.items() if value != ""}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def resolve_params(value: Any, params: Mapping[str, Any], unknown: list[str]) -> Any:
    """`{param.NAME}` replaced; names without a value are appended to `unknown`."""
    if isinstance(value, str):
        whole = PARAM.fullmatch(value)
        if whole:
            if whole.group(1) not in params:
                unknown.append(whole.group(1))
                return value
            return params[whole.group(1)]

        def one(match: re.Match[str]) -> str:
            if match.group(1) not in params:
                unknown.append(match.group(1))
                return match.group(0)
            return _text(params[match.group(1)])

        return PARAM.sub(one, value)
    if isinstance(value, list):
        return [resolve_params(item, params, unknown) for item in value]
    if isinstance(value, dict):
        return {k: resolve_params(v, params, unknown) for k, v in value.items()}
    return value
