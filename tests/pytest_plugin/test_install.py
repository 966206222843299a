"""`pip install` of the package is all it takes: in a fresh venv outside the repository,
`pytest --stampede` fails a leaky test and `stampede_storm` is among the fixtures.

The wheel is built as a user's pip builds it (isolated) and the venv is made once per source
hash and project venv, under ~/.cache/stampede/pytest-plugin/<hash>-<venv> (a second run
reuses it). The venv sees the project venv's site-packages through a .pth line, for the
dependencies only: stampede itself is the wheel's, installed with --no-deps, and the test
checks that.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serverproc import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "stampede"

LEAKY = """
import asyncio, pytest
import stampede.pytest_plugin.plugin as plugin

KEEP = set()

def test_the_plugin_is_the_wheels():
    assert plugin.__file__.startswith(VENV), plugin.__file__

@pytest.mark.asyncio
async def test_leaks_a_task():
    KEEP.add(asyncio.create_task(asyncio.sleep(30), name="left-behind"))
"""


def source_hash() -> str:
    digest = hashlib.sha256()
    files = [ROOT / "pyproject.toml", ROOT / "setup.py"]
    for folder in ("stampede", "server", "loadtest"):
        files += sorted(p for p in (ROOT / folder).rglob("*") if p.is_file() and not p.is_symlink()
                        and "__pycache__" not in p.parts and "stampede/server" not in p.as_posix()
                        and "stampede/loadtest" not in p.as_posix())  # fmt: skip
    for path in files:
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def fresh_venv() -> Path:
    # Keyed by the project venv too: the .pth line names its site-packages, and a venv made by
    # another clone would point at that clone's venv (gone once the clone is).
    home = (
        CACHE
        / "pytest-plugin"
        / f"{source_hash()}-{hashlib.sha256(sys.prefix.encode()).hexdigest()[:8]}"
    )
    venv = home / "venv"
    if (home / "ready").exists():
        return venv
    shutil.rmtree(home, ignore_errors=True)
    wheels = home / "wheel"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), "."], cwd=ROOT)
    (wheel,) = wheels.glob("stampede-*.whl")
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    deps = Path(purelib.stdout.strip())
    (deps / "project-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         str(wheel)])  # fmt: skip
    (home / "ready").write_text(str(wheel.name))
    return venv


def test_pip_install_brings_the_plugin_to_a_project_outside_the_repository(
    tmp_path: Path,
) -> None:
    venv = fresh_venv()
    project = tmp_path / "elsewhere"
    project.mkdir()
    (project / "test_leaky.py").write_text(f"VENV = {str(venv)!r}\n" + LEAKY)
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    base = [python, "-m", "pytest", "-p", "no:cacheprovider", "-rA"]
    checked = subprocess.run(
        [*base, "--stampede"], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    out = checked.stdout
    assert "PASSED test_leaky.py::test_the_plugin_is_the_wheels" in out, out[-3000:]
    assert "FAILED test_leaky.py::test_leaks_a_task" in out, out[-3000:]
    assert "[tasks] task 'left-behind' (sleep) left pending at the test's end" in out
    fixtures = subprocess.run(
        [*base, "--fixtures"], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    assert "stampede_storm" in fixtures.stdout, fixtures.stdout[-3000:]
    plain = subprocess.run(base, cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0, plain.stdout[-3000:]  # off unless asked for
