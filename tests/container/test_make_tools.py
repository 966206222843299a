"""`make test` on a fresh machine: the Makefile checks for Prometheus before anything else, and
scripts/ensure-tools.sh installs it (root or sudo) or stops at once with the one command to run.
Run as an unprivileged user whose PATH lacks promtool, the script cannot install and must say
so in one line; with the tools on PATH it is silent."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.container import prom_helpers as ph

SCRIPT = ph.REPO / "scripts" / "ensure-tools.sh"
COMMAND = "sudo apt-get update && sudo apt-get install -y --no-install-recommends prometheus"
SETPRIV, BASH = shutil.which("setpriv") or "setpriv", shutil.which("bash") or "/bin/bash"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching to an unprivileged user")


def as_nobody(path: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SETPRIV, "--reuid=65534", "--regid=65534", "--clear-groups", BASH, str(SCRIPT), *args],
        env={"PATH": path, "HOME": "/nonexistent"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def bindir() -> Iterator[Path]:
    # Not under pytest's tmp_path: its parents are private to root, and nobody must read this.
    path = Path(tempfile.mkdtemp(prefix="stampede-bin-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def path_without(bindir: Path, *missing: str) -> str:
    """A PATH holding what the script uses from this machine, minus `missing`."""
    for tool in ("bash", "apt-get", "python3", "promtool", "prometheus", "systemctl", "sudo"):
        if tool not in missing and (found := shutil.which(tool)):
            (bindir / tool).symlink_to(found)
    return str(bindir)


@needs_root
def test_without_prometheus_or_privileges_it_stops_with_one_line(bindir: Path) -> None:
    started = time.monotonic()
    done = as_nobody(path_without(bindir, "promtool", "prometheus"), "prometheus")
    assert done.returncode == 1
    assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.strip().endswith(f"run: {COMMAND}"), done.stderr
    assert time.monotonic() - started < 5  # at once: no apt-get, no waiting


@needs_root
def test_with_prometheus_on_path_it_is_silent(bindir: Path) -> None:
    ph.require_tool("promtool")
    done = as_nobody(path_without(bindir), "prometheus")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_make_test_checks_the_tools_first() -> None:
    # Run as a top-level make even under `make test` itself (no inherited MAKEFLAGS/level).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    planned = subprocess.run(
        ["make", "-n", "--no-print-directory", "test"],
        cwd=ph.REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    commands = [line for line in planned.stdout.splitlines() if line.strip()]
    assert "ensure-tools.sh prometheus" in commands[0], commands
    assert any("pytest" in line for line in commands)


def test_ci_runs_only_the_readme_test_command() -> None:
    lines = (ph.REPO / ".ci" / "run").read_text().splitlines()
    commands = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    assert commands[-1] == "exec make test"
    assert not any("apt" in line for line in commands), commands
    assert "make test" in (ph.REPO / "README.md").read_text()
