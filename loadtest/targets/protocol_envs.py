"""Cached venvs that hold a real agent-protocol server package (A2A, MCP, AG-UI, AgentCore, ADK).

The protocol presets are tested against the servers users really run: pydantic-ai's fasta2a and
AG-UI adapters, a2a-sdk, the `mcp` package, bedrock-agentcore and google-adk. Each lives in its
own venv under the user cache dir (see sdk_envs.cache_root), keyed by the exact releases and the
interpreter, so a second clone or a second run reuses it. Unlike the --sdk envs these hold no
Stampede code: the apps in examples/ are plain user apps, run with the env's own uvicorn.

Building reuses sdk_envs' lock, bounded pip calls and ready marker (written last), so two runs
that want one env build it once and a half-built env is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from stampede.loadtest.errors import UsageError
from stampede.loadtest.targets.sdk_envs import Say, SdkSpec, _locked, _run, cache_root

FORMAT = 1  # bump to invalidate every protocol env


@dataclass(frozen=True)
class ProtocolEnv:
    name: str  # the env's short name, e.g. "mcp"
    requirements: tuple[str, ...]  # exact pins, the first one is the server package
    smoke: str  # imports what the example apps import, so a broken release fails at build

    @property
    def release(self) -> str:
        """The server package's pin, e.g. `mcp==2.3.0` (what a report names)."""
        return self.requirements[0]


ENVS = {
    env.name: env
    for env in (
        ProtocolEnv(
            "pydantic-ai",
            ("pydantic-ai-slim[ag-ui]==2.68.0", "fasta2a[pydantic-ai]==2.1.1", "uvicorn==0.54.0"),
            "import fasta2a.pydantic_ai, pydantic_ai.ui.ag_ui, pydantic_ai.models.test",
        ),
        ProtocolEnv(
            "a2a-sdk",
            ("a2a-sdk[http-server]==1.3.0", "uvicorn==0.54.0"),
            "import a2a.server",
        ),
        ProtocolEnv("mcp", ("mcp==2.3.0", "uvicorn==0.54.0"), "import mcp.server"),
        ProtocolEnv(
            "bedrock-agentcore",
            ("bedrock-agentcore==1.25.0", "uvicorn==0.54.0"),
            "import bedrock_agentcore",
        ),
        ProtocolEnv(
            "google-adk",
            ("google-adk==2.13.0", "uvicorn==0.54.0"),
            "import google.adk",
        ),
    )
}


def env_dir(env: ProtocolEnv) -> Path:
    key = {
        "format": FORMAT,
        "python": [sys.version, os.path.realpath(getattr(sys, "_base_executable", sys.executable))],
        "requirements": list(env.requirements),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    version = env.release.rpartition("==")[2]
    return cache_root() / f"protocol-{env.name}-{version}-{digest}"


def is_ready(path: Path) -> bool:
    return (path / "stampede-ready.json").is_file() and (path / "bin" / "python").exists()


def ensure(name: str, say: Say) -> Path:
    """The interpreter of `name`'s env, building the env first if it is not cached yet."""
    if name not in ENVS:
        raise UsageError(f"no protocol env {name!r}; known: {', '.join(sorted(ENVS))}")
    env = ENVS[name]
    path = env_dir(env)
    if not is_ready(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        spec = SdkSpec(env.name, env.release.rpartition("==")[2])  # names the lock in messages
        with _locked(path.parent / f"{path.name}.lock", spec, say):
            if not is_ready(path):
                _build(env, path, say)
    return path / "bin" / "python"


def _build(env: ProtocolEnv, path: Path, say: Say) -> None:
    shutil.rmtree(path, ignore_errors=True)  # a half-built env from a killed run
    started = time.monotonic()
    say(f"{env.release}: creating its environment in {path} (first use; cached afterwards)")
    try:
        _run([sys.executable, "-m", "venv", str(path)], f"create a venv for {env.name}", say)
        python = str(path / "bin" / "python")
        pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-q"]
        _run([*pip, *env.requirements], f"install {env.release}", say, heartbeat=True)
        _run([python, "-P", "-c", env.smoke], f"import {env.release}", say)
    except UsageError:
        shutil.rmtree(path, ignore_errors=True)
        raise
    elapsed = time.monotonic() - started
    info = {"requirements": list(env.requirements), "seconds": round(elapsed, 1)}
    (path / "stampede-ready.json").write_text(json.dumps(info) + "\n")
    say(f"{env.release}: environment ready in {elapsed:.0f} s")


if __name__ == "__main__":  # `python -m stampede.loadtest.targets.protocol_envs NAME...`
    for arg in sys.argv[1:] or sorted(ENVS):
        print(ensure(arg, lambda message: print(message, file=sys.stderr, flush=True)))
