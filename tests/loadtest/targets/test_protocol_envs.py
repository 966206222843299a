"""The protocol servers' cached venvs: one per exact release, outside the clone, named by it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from stampede.loadtest.errors import UsageError
from stampede.loadtest.targets import protocol_envs
from stampede.loadtest.targets.protocol_envs import ENVS, ensure, env_dir


def test_each_env_is_keyed_by_its_exact_releases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    mcp = ENVS["mcp"]
    path = env_dir(mcp)
    assert path.parent == tmp_path / "stampede" / "venvs"
    assert path.name.startswith("protocol-mcp-2.3.0-")
    assert all("==" in pin for env in ENVS.values() for pin in env.requirements)
    bumped = replace(mcp, requirements=("mcp==2.3.1", *mcp.requirements[1:]))
    assert env_dir(bumped) != path and env_dir(bumped).name.startswith("protocol-mcp-2.3.1-")
    assert env_dir(mcp) == path  # the same releases: the same env, reused


def test_an_unknown_env_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="no protocol env 'soap'; known: a2a-sdk"):
        ensure("soap", print)
    assert protocol_envs.is_ready(Path("/nonexistent")) is False
