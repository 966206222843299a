"""`stampede protocols`: the shipped protocol presets, listed or printed one at a time.

`stampede protocols` lists them with what each speaks and its [params] (the values
`--protocol-arg KEY=VALUE` overrides); `stampede protocols show NAME` prints the preset's
workload file, to copy and edit into your own `--workload`.
"""

from __future__ import annotations

import argparse
import json
import tomllib
from typing import Any

from stampede.loadtest.errors import UsageError
from stampede.loadtest.storm.protocols import PRESETS, SERVERS, preset_text


def cmd_protocols(args: argparse.Namespace) -> int:
    if args.action is None:
        width = max(len(name) for name in PRESETS)
        for name in PRESETS:
            params = tomllib.loads(preset_text(name)).get("params", {})
            listed = ", ".join(f"{k}={json.dumps(v)}" for k, v in params.items()) or "none"
            print(f"{name:<{width}}  {SERVERS[name]}")
            print(f"{'':<{width}}  params: {listed}")
        print("\nstampede protocols show NAME  prints one; use it with --protocol NAME")
        return 0
    if args.action != "show" or not args.name:
        raise UsageError(f"{args.action!r}: write `stampede protocols show NAME`")
    if args.name not in PRESETS:
        raise UsageError(f"{args.name!r}: not a preset (known: {', '.join(PRESETS)})")
    print(preset_text(args.name), end="")
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "protocols", help="list the protocol presets (A2A, MCP, AG-UI, AgentCore, ADK)"
    )
    parser.add_argument("action", nargs="?", choices=["show"], help="show NAME: print a preset")
    parser.add_argument("name", nargs="?", metavar="NAME", help="a preset: " + ", ".join(PRESETS))
    parser.set_defaults(func=cmd_protocols)
