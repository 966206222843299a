"""`stampede compare --sdk`: spec checks, and the cached per-release virtual environments.

Bad specs are refused before anything starts, as one line naming the value (exit 2); a
release PyPI does not have is refused the same way, after a quick lookup. A new env is built
once, with progress lines (replacing a half-built one), then reused without a word.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from stampede.loadtest.cli import main
from stampede.loadtest.errors import HarnessError
from stampede.loadtest.targets import sdk_envs

# Building one env takes about 15 s with a warm pip cache, under a minute from PyPI.
pytestmark = pytest.mark.timeout(300)

GOOD = "agent-client-protocol==0.8.1,agent-client-protocol==0.12.1"
CLAUDE = "claude-agent-sdk==0.1.50,claude-agent-sdk==0.1.51"
ROOT = Path(__file__).resolve().parents[3]
_BUILD_LEFTOVERS = shutil.ignore_patterns("__pycache__", "*.egg-info")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sdk", "acp==0.8.1"], "--sdk 'acp==0.8.1': package must be one of"),
        (["--sdk", "agent-client-protocol>=0.8"], "write package==version"),
        (["--sdk", "agent-client-protocol==latest"], "'latest' is not an exact version"),
        (
            ["--sdk", "strands-agents==1.44.0", "--scenario", "idempotency"],
            "--sdk strands-agents==1.44.0: --scenario idempotency drives strands-agents >= 1.45.0 "
            "only (this release runs with --scenario shared_agent)",
        ),
        (["--sdk", "strands-agents==1.21.0"], "idempotency drives strands-agents >= 1.45.0 only"),
        (
            ["--sdk", "strands-agents==0.3.0", "--scenario", "shared_agent"],
            "--sdk 'strands-agents==0.3.0': Stampede drives strands-agents >= 1.45.0 (--scenario "
            "idempotency), 1.0.0 (--scenario shared_agent) only",
        ),
        (
            ["--sdk", "strands-agents==1.21.0", "--scenario", "session"],
            "is compared with --scenario idempotency or --scenario shared_agent, not session",
        ),
        (["--sdk", "agent-client-protocol==0.8.1,agent-client-protocol==0.8.1"], "named twice"),
        (["--sdk", "agent-client-protocol==0.8.1,strands-agents==1.62.0"], "one package at a"),
        (["--sdk", GOOD, "--scenario", "idempotency"], "is compared with --scenario session"),
        (["--sdk", GOOD, "--scenario", "all"], "--sdk needs one --scenario, not 'all'"),
        (["--sdk", GOOD, "--variants", "bare"], "--sdk and --variants both name the variants"),
        (["--sdk", "claude-agent-sdk==0.0.23"], "drives claude-agent-sdk >= 0.1.0 only"),
        (["--sdk", CLAUDE, "--scenario", "session"], "is compared with --scenario stream"),
        (["--sdk", CLAUDE, "--stream-consume", "break,nope"], "unknown pattern 'nope'"),
        (["--sdk", CLAUDE, "--stream-consume", "flag,flag"], "a pattern is named twice"),
        (["--sdk", GOOD, "--stream-consume", "break"], "the patterns are claude-agent-sdk's"),
    ],
)
def test_bad_sdk_is_a_one_line_usage_error(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results"
    own = "stream" if any(arg.startswith("claude-agent-sdk") for arg in argv) else "session"
    explicit = "--scenario" in argv or any(arg.startswith("strands-agents") for arg in argv)
    scenario = [] if explicit else ["--scenario", own]
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", *scenario, *argv, "--out", str(out), "--no-progress"])
    assert exit_info.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and message in errors[0], errors
    assert errors[0].startswith("stampede compare: error: ")
    assert not out.exists(), "nothing may start before the specs are checked"


@pytest.mark.parametrize("spec", ["agent-client-protocol==0.9.99", "claude-agent-sdk==0.1.9999"])
def test_uninstallable_release_names_pips_reason(
    spec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # No --scenario: a release implies its package's scenario, so the lookup is reached.
    with pytest.raises(SystemExit):
        main(["compare", "--sdk", spec])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == (
        f"stampede compare: error: cannot find {spec}: No matching distribution found for {spec}"
    )


def test_env_is_built_once_then_reused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    spec = sdk_envs.parse_spec("agent-client-protocol==0.12.1")
    half_built = sdk_envs.env_dir(spec) / "bin"  # as a run killed mid-install leaves it
    half_built.mkdir(parents=True)
    (half_built / "python").write_text("not an interpreter")
    said: list[str] = []
    python = sdk_envs.prepare((spec,), said.append)[str(spec)]
    assert python.is_relative_to(tmp_path / "stampede" / "venvs")
    assert any("creating its environment" in line for line in said)
    assert said[-1].startswith("agent-client-protocol==0.12.1: environment ready in ")
    # The env has that exact release and runs this source tree.
    probe = "import importlib.metadata as m, server; print(m.version('agent-client-protocol'))"
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "0.12.1", done.stderr
    assert "import server" not in done.stderr
    again: list[str] = []
    assert sdk_envs.prepare((spec,), again.append)[str(spec)] == python
    assert again == []
    # A second clone of the source keys the same env: no build, its own code on the path.
    clone = tmp_path / "clone"
    for part in ("pyproject.toml", "stampede", "server", "loadtest"):
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, clone / part, symlinks=True, ignore=_BUILD_LEFTOVERS)
        else:
            (clone / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, clone / part)
    in_clone = (
        f"import sys; sys.path.insert(0, {str(clone)!r}); "
        "from stampede.loadtest.targets import sdk_envs; "
        f"said = []; print(sdk_envs.prepare((sdk_envs.parse_spec({str(spec)!r}),), said.append)"
        f"[{str(spec)!r}]); print(said)"
    )
    done = subprocess.run(
        [sys.executable, "-P", "-c", in_clone], capture_output=True, text=True, timeout=60,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    clone_python, clone_said = done.stdout.strip().splitlines()
    assert clone_said == "[]"  # nothing built or looked up
    assert Path(clone_python).parents[2] == python.parents[2]  # the same env ...
    assert Path(clone_python) != python  # ... with the clone's own source folder
    where = "import stampede.server as s; print(s.__file__)"
    done = subprocess.run(
        [clone_python, "-P", "-c", where], capture_output=True, text=True, timeout=30
    )
    assert Path(done.stdout.strip()).resolve().is_relative_to(clone.resolve()), done.stderr


def test_waiting_for_another_runs_env_build_is_bounded(tmp_path: Path) -> None:
    lock = tmp_path / "env.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, sys, time\n"
         f"handle = open({str(lock)!r}, 'a')\n"
         "fcntl.flock(handle, fcntl.LOCK_EX)\n"
         "print('held', flush=True)\n"
         "time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"  # type: ignore[union-attr]
        spec = sdk_envs.parse_spec("agent-client-protocol==0.8.1")
        heard: list[str] = []
        started = time.monotonic()
        with pytest.raises(HarnessError) as exc, sdk_envs._locked(lock, spec, heard.append, 0.6):
            pass
        assert 0.6 <= time.monotonic() - started < 5
        assert str(lock) in str(exc.value) and "\n" not in str(exc.value)
        assert heard and "waiting for another run" in heard[0]
    finally:
        holder.kill()
        holder.wait()
