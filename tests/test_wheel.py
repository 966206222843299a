"""A wheel built from the tree installs one top-level package, `stampede`, each module once.

setup.py maps server/ and loadtest/ into the namespace; the symlinks stampede/server and
stampede/loadtest (there for import-linter) must not put a second copy of them in the wheel.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_has_only_the_stampede_package(tmp_path: Path) -> None:
    # pip's isolated build: the build backend pyproject.toml asks for, as a user would get it.
    argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), "."]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (wheel,) = tmp_path.glob("stampede-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    code = [n for n in names if ".dist-info/" not in n]
    assert {n.split("/", 1)[0] for n in code} == {"stampede"}
    assert "stampede/server/app.py" in code and "stampede/loadtest/cli.py" in code
    assert "stampede/probe/__init__.py" in code
    assert "stampede/loadtest/commands/plan/plan_schema.json" in code
    assert "stampede/loadtest/storm/protocols/mcp.toml" in code  # the --protocol presets
    repeated = [n for n, count in Counter(code).items() if count > 1]
    assert not repeated, repeated
    assert not any("__pycache__" in n or n.startswith("stampede/stampede") for n in code)
