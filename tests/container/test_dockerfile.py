"""Static checks of the image, no engine needed: hadolint on the Dockerfile (and why each ignore),
its final stage, and a .dockerignore that keeps what the Dockerfile copies."""

from __future__ import annotations

import json
import re
import subprocess

from tests.container import prom_helpers as ph

REPO = ph.REPO
DOCKERFILE = REPO / "Dockerfile"
GRAFANA_PROVISIONING = ph.DASHBOARD_DIR / "provisioning"


def test_hadolint_passes() -> None:
    hadolint = ph.require_tool("hadolint")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_ignores_are_justified() -> None:
    lines = DOCKERFILE.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore=" in line:
            previous = lines[number - 1].strip() if number else ""
            assert previous.startswith("#") and "hadolint" not in previous, (
                f"Dockerfile line {number + 1}: say why above the ignore"
            )


def test_dockerfile_final_stage() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    base = re.search(r"^ARG PYTHON_IMAGE=python:(\d+)\.(\d+)-slim", text, re.M)
    assert base and (int(base[1]), int(base[2])) >= (3, 13), "needs a python:3.13+-slim base"
    stages = re.split(r"^FROM ", text, flags=re.M)
    assert len(stages) >= 3, "multi-stage: a build stage and a runtime stage"
    final = stages[-1]
    assert "COPY --from=build /opt/venv" in final
    assert not re.search(r"\b(gcc|g\+\+|build-essential|apt-get install)\b", final)
    user = re.findall(r"^USER\s+(\S+)", final, re.M)
    assert user and user[-1].split(":")[0] not in {"root", "0"}
    # Exec form with no spaces in any argument: podman's API splits them (podman#26519).
    check = re.search(r"^HEALTHCHECK .*\n?.*CMD (\[.*\])", final, re.M)
    assert check and json.loads(check[1]) == ["stampede", "healthcheck"]
    assert 'CMD ["stampede", "serve", "--host", "0.0.0.0", "--allow-remote"]' in final


def test_dockerignore_keeps_what_the_dockerfile_copies() -> None:
    # .dockerignore is an allow-list: a new COPY source must be let in there too.
    allowed = {
        line[1:].rstrip("/")
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    }
    copies = re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE.read_text(encoding="utf-8"), re.M)
    for sources in (c.split()[:-1] for c in copies):
        for source in sources:
            top = source.split("/")[0]
            assert top in allowed, f"COPY {source}: excluded by .dockerignore"
            assert (REPO / source).exists(), f"COPY {source}: no such file"


# --- Prometheus -----------------------------------------------------------------------------------
