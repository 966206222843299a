"""`stampede compare --target ...`: the flags, checks and per-variant plans for the user's own
servers. With targets, the variants are the targets; without, compare works as it always has.

Every target gets the same seeded storm and the same caps as a built-in variant (command
targets; a URL target runs as its owner started it), the scenario's Locust users speak the
workload file's API, and a black box (blackbox.py) watches each one.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from stampede.loadtest.observe.blackbox import DEFAULT_STALL_S
from stampede.loadtest.process.caps import CapsRequest
from stampede.loadtest.storm.protocols import PRESETS, load_preset, parse_args
from stampede.loadtest.storm.users.workload import Workload, WorkloadError, load_workload
from stampede.loadtest.targets.spec import (
    DEFAULT_HEALTH_PATH,
    TargetSpec,
    check_health_path,
    is_loopback,
    parse_targets,
)


@dataclass(frozen=True)
class TargetOptions:
    specs: tuple[TargetSpec, ...]
    health_path: str = DEFAULT_HEALTH_PATH
    stall_s: float = DEFAULT_STALL_S
    workload: Workload = field(default_factory=Workload)
    workload_file: str | None = None

    def spec(self, name: str) -> TargetSpec:
        return next(spec for spec in self.specs if spec.name == name)

    def record(self) -> dict[str, Any]:
        """What summary.json's settings say about the targets."""
        return {
            "targets": {spec.name: spec.describe() for spec in self.specs},
            "health_path": self.health_path,
            "stall_s": self.stall_s,
            "workload_file": self.workload_file,
        }


def add_target_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        action="append",
        metavar="NAME=COMMAND|URL",
        help="storm your own server (repeatable): a start command with {port}, e.g. "
        'before="uvicorn app:app --port {port}", or a running one, e.g. '
        "mine=http://127.0.0.1:8000; with --target the variants are the targets",
    )
    parser.add_argument(
        "--allow-remote", action="store_true", help="let --target URLs be other than loopback"
    )
    parser.add_argument(
        "--health-path",
        metavar="PATH",
        help=f"a target is up when this answers 200 (or any answer if it is 404/405; "
        f"default {DEFAULT_HEALTH_PATH})",
    )
    parser.add_argument(
        "--stall-seconds",
        metavar="S",
        help=f"in flight and no success for this long is a stall (default {DEFAULT_STALL_S:g})",
    )
    parser.add_argument(
        "--workload", metavar="FILE.toml", help="how the targets' API looks (README)"
    )
    parser.add_argument(
        "--protocol",
        metavar="NAME",
        help=f"a shipped workload for an agent protocol ({', '.join(PRESETS)}); "
        "`stampede protocols` lists them; not with --workload",
    )
    parser.add_argument(
        "--protocol-arg",
        action="append",
        metavar="KEY=VALUE",
        help="a value for the workload's [params] (repeatable), e.g. tool=echo or "
        '\'arguments={"text": "{prompt}"}\' (JSON if it parses, else a string)',
    )


def target_options(args: argparse.Namespace) -> TargetOptions | None:
    """The targets from parsed flags (None without --target); ValueError naming a bad value."""
    texts = getattr(args, "target", None) or []
    target_only = {
        "--health-path": getattr(args, "health_path", None),
        "--stall-seconds": getattr(args, "stall_seconds", None),
        "--workload": getattr(args, "workload", None),
        "--protocol": getattr(args, "protocol", None),
        "--protocol-arg": getattr(args, "protocol_arg", None),
    }
    if not texts:
        given = [flag for flag, value in target_only.items() if value is not None]
        if given or getattr(args, "allow_remote", False):
            raise ValueError(f"{(given or ['--allow-remote'])[0]} needs --target")
        return None
    values: dict[str, Any] = {"specs": parse_targets(texts, bool(args.allow_remote))}
    if target_only["--health-path"] is not None:
        values["health_path"] = check_health_path(str(target_only["--health-path"]))
    if target_only["--stall-seconds"] is not None:
        values["stall_s"] = _seconds("--stall-seconds", str(target_only["--stall-seconds"]))
    values.update(_workload(target_only))
    return TargetOptions(**values)


def _workload(given: dict[str, Any]) -> dict[str, Any]:
    """--workload FILE or --protocol NAME (one of them), with --protocol-arg's params."""
    workload, protocol = given["--workload"], given["--protocol"]
    args = list(given["--protocol-arg"] or [])
    if workload is not None and protocol is not None:
        raise ValueError("--protocol and --workload: give one (a preset or your own file)")
    try:
        if protocol is not None:
            return {
                "workload": load_preset(str(protocol), args),
                "workload_file": f"protocol:{protocol}",
            }
        if workload is None:
            return {}
        path = Path(str(workload))
        return {"workload": load_workload(path, parse_args(args)), "workload_file": str(path)}
    except WorkloadError as exc:
        raise ValueError(str(exc)) from None


def _seconds(flag: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{flag} {text!r}: not a number") from None
    if not 0.5 <= value <= 3600:
        raise ValueError(f"{flag} {text!r}: must be >= 0.5 and <= 3600")
    return value


def check_targets(targets: TargetOptions, variants: tuple[str, ...], sdk: tuple[str, ...]) -> None:
    if variants or sdk:
        raise ValueError("--target names the variants: drop --variants and --sdk")


def target_plan_fields(
    targets: TargetOptions, name: str, caps: CapsRequest, common: dict[str, Any]
) -> dict[str, Any]:
    """A target variant's VariantPlan fields, from those every variant shares (`common`)."""
    spec = targets.spec(name)
    locust_args = {**common["locust_args"], "workload": targets.workload.to_json()}
    host = urlsplit(spec.url).hostname if spec.url else None
    if host and not is_loopback(host):  # --allow-remote let it through: tell Locust so too
        locust_args["allow_remote"] = host
    return {
        **common,
        "target": spec.launcher_target(caps, targets.health_path),
        "server_settings": {},
        "locust_args": locust_args,
        "target_info": spec.describe(),
        "stall_s": targets.stall_s,
    }
