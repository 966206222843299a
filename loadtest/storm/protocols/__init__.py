"""Protocol presets: a workload file per agent protocol, shipped in the package.

`stampede compare --protocol NAME` loads one as if it were `--workload FILE`, with
`--protocol-arg KEY=VALUE` overriding its [params] (a VALUE that parses as JSON is that JSON,
else a string). `stampede protocols` lists them; `stampede protocols show NAME` prints one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stampede.loadtest.storm.users.workload import Workload, load_workload

HERE = Path(__file__).resolve().parent
PRESETS = ("a2a", "mcp", "ag-ui", "agentcore", "adk")
SERVERS = {
    "a2a": "A2A 1.0 JSON-RPC: SendMessage, then GetTask polled to a terminal state",
    "mcp": "MCP streamable HTTP: initialize (+ session), then tools/call; JSON or SSE answers",
    "ag-ui": "AG-UI: one POST per run, its SSE stream ends with RUN_FINISHED or RUN_ERROR",
    "agentcore": "Bedrock AgentCore runtime: POST /invocations with the session header",
    "adk": "google-adk API server: create a session, then POST /run (disconnect: /run_sse)",
}


def preset_path(name: str) -> Path:
    if name not in PRESETS:
        raise ValueError(f"--protocol {name!r}: must be one of {', '.join(PRESETS)}")
    return HERE / f"{name}.toml"


def preset_text(name: str) -> str:
    return preset_path(name).read_text()


def parse_args(texts: list[str]) -> dict[str, Any]:
    """`--protocol-arg KEY=VALUE`s as params; ValueError naming a bad one."""
    params: dict[str, Any] = {}
    for text in texts:
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--protocol-arg {text!r}: write KEY=VALUE, e.g. tool=echo")
        if key in params:
            raise ValueError(f"--protocol-arg {text!r}: {key} is given twice")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


def load_preset(name: str, args: list[str]) -> Workload:
    return load_workload(preset_path(name), parse_args(args), where=f"--protocol {name}")
