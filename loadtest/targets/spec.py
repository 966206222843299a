"""`stampede compare --target NAME=COMMAND|URL`: the user's own server as the system under test.

- `NAME=COMMAND`: Stampede starts COMMAND (split like a shell would, run without one, from the
  current directory) with "{port}" replaced by a free loopback port, in its own process group,
  capped like the built-in variants, stdout and stderr captured into the run folder.
- `NAME=http://127.0.0.1:PORT`: a server the user started; Stampede neither starts nor caps it.
  Loopback only (127.0.0.0/8, ::1, localhost) unless --allow-remote.

Both are ready when the health path answers 200, or, when it does not exist (404/405), as soon
as the server accepts a connection and answers. The specs become the launcher's targets.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from stampede.loadtest.process.caps import CapsRequest
from stampede.loadtest.process.launcher import CommandTarget, Target, UrlTarget

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DEFAULT_HEALTH_PATH = "/healthz"


@dataclass(frozen=True)
class TargetSpec:
    name: str
    kind: Literal["command", "url"]
    command: str | None = None  # as the user wrote it, with "{port}"
    url: str | None = None

    def describe(self) -> dict[str, Any]:
        """The summary's `target` field."""
        if self.kind == "url":
            return {"kind": "url", "url": self.url}
        return {"kind": "command", "command": self.command}

    def launcher_target(
        self, caps: CapsRequest | None, health_path: str, cwd: Path | None = None
    ) -> Target:
        if self.kind == "url":
            assert self.url is not None
            return UrlTarget(self.url, self.name, health_path, tcp_fallback=True)
        assert self.command is not None
        argv = shlex.split(self.command)
        return CommandTarget(
            (_resolve(argv[0]), *argv[1:]),
            name=self.name,
            health_path=health_path,
            caps=caps,
            cwd=cwd or Path.cwd(),
            tcp_fallback=True,
            split_stderr=True,
        )


def parse_target(text: str, allow_remote: bool = False) -> TargetSpec:
    """One --target value; ValueError naming it when it is bad."""
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not value:
        raise ValueError(f"--target {text!r}: expected NAME=COMMAND or NAME=http://HOST:PORT")
    if not NAME.match(name):
        raise ValueError(
            f"--target {text!r}: name {name!r} must be 1-64 letters, digits, '.', '_' or '-'"
        )
    if value.startswith(("http://", "https://")):
        return TargetSpec(name, "url", url=_check_url(text, value, allow_remote))
    try:
        argv = shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"--target {text!r}: cannot split the command: {exc}") from None
    if not any("{port}" in arg for arg in argv):
        raise ValueError(f"--target {text!r}: the command needs {{port}} where the port goes")
    return TargetSpec(name, "command", command=value)


def parse_targets(texts: list[str] | tuple[str, ...], allow_remote: bool) -> tuple[TargetSpec, ...]:
    specs = tuple(parse_target(text, allow_remote) for text in texts)
    names = [spec.name for spec in specs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"--target names must be unique, {', '.join(repeated)} repeats")
    return specs


def _check_url(text: str, url: str, allow_remote: bool) -> str:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None or parts.path not in ("", "/"):
        raise ValueError(f"--target {text!r}: the URL must be http://HOST:PORT, with no path")
    if not allow_remote and not is_loopback(parts.hostname):
        raise ValueError(
            f"--target {text!r}: {parts.hostname} is not loopback (127.0.0.0/8, ::1); "
            "pass --allow-remote to storm another host"
        )
    return url.rstrip("/")


def _resolve(program: str) -> str:
    """A program on PATH, else beside this interpreter (`uvicorn` in Stampede's own venv)."""
    if os.sep in program or shutil.which(program):
        return program
    beside = Path(sys.executable).with_name(program)
    return str(beside) if beside.exists() else program


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_health_path(path: str) -> str:
    if not path.startswith("/") or any(ch.isspace() for ch in path):
        raise ValueError(f"--health-path {path!r}: must start with '/' and have no spaces")
    return path
