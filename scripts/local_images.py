#!/usr/bin/env python3
"""Base images for the compose stack built on this machine, for hosts that reach no registry.

The compose file takes PYTHON_IMAGE (the Dockerfile's base) and PROMETHEUS_IMAGE; by default
they come from Docker Hub. This script builds both from Debian packages instead:
mmdebstrap makes a minimal Debian trixie root filesystem (Python 3.13, which the Dockerfile
needs) that the engine imports as an image, and Debian's prometheus package is installed on
top of it. Both are tagged by a hash of their recipe and of the host's CA bundle, so a rebuild
happens only when either changes, and an engine that already holds the tag is not asked again.

The host's CA certificates go into the root filesystem because pip and apt inside the build
must trust what the host trusts (a TLS-intercepting proxy is possible).

It also knows how to run podman on a host whose own containers config may not suit it:
`podman_env()` returns CONTAINERS_CONF / CONTAINERS_STORAGE_CONF pointing at files it writes
under the cache folder (runc, cgroupfs, file events, ulimits within the host's hard limits,
storage in the cache), so the host's /etc/containers is never read or changed.

    scripts/local_images.py                 # build or reuse; prints PYTHON_IMAGE=... lines
    eval "$(scripts/local_images.py --engine docker)"   # then: docker compose up --build

Standard library only: it runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "stampede" / "containers"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
SUITE = "trixie"  # Python 3.13: the Dockerfile's executor sizing depends on it
PACKAGES = ("ca-certificates", "python3", "python3-venv", "python-is-python3", "passwd")
# Prometheus on the same base, from the host's Debian prometheus package (which `make test`
# installs anyway): its server is one static binary plus web assets, so copying those is
# seconds where installing the package in a build is a minute and 330 MB of promtool and
# friends (its web UI is built in; the console templates are not used). The flags come from
# docker-compose.yml, as with prom/prometheus.
HOST_PROMETHEUS = Path("/usr/bin/prometheus")
PROMETHEUS_RECIPE = """\
FROM {base}
COPY prometheus /usr/bin/prometheus
RUN mkdir -p /prometheus && chown nobody:nogroup /prometheus
USER nobody
WORKDIR /prometheus
ENTRYPOINT ["/usr/bin/prometheus"]
"""
BUILD_TIMEOUT = 600


class ImageError(RuntimeError):
    """A base image could not be built: the message says which step and why."""


# --- podman on this host ------------------------------------------------------------------------
def podman_env(cache: Path = CACHE) -> dict[str, str]:
    """Environment for running podman (and podman-compose) with configs of our own.

    Storage lives in the cache, outside any clone, so a fresh clone reuses built images.
    """
    cache.mkdir(parents=True, exist_ok=True)
    uid = os.getuid()
    # Runtime state belongs on a tmpfs that a reboot clears, as podman expects.
    run = Path(f"/run/stampede-containers-{uid}") if uid == 0 else _user_run_dir(uid)
    run.mkdir(parents=True, exist_ok=True, mode=0o700)
    # podman's default nofile (1048576) exceeds many hosts' hard limit and setrlimit fails.
    nofile = _within(resource.RLIMIT_NOFILE, 1048576)
    nproc = _within(resource.RLIMIT_NPROC, 32768)
    conf = cache / "containers.conf"
    conf.write_text(
        "# Written by scripts/local_images.py for the Stampede stack; not the host's config.\n"
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        "[engine]\n"
        # crun refuses cgroup v1/hybrid hosts; runc runs on both.
        'runtime = "runc"\n'
        # No systemd to ask on many build hosts.
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
        f'tmp_dir = "{run}/libpod"\n'
        "[network]\n"
        'network_backend = "netavark"\n'
        f'network_config_dir = "{cache}/networks"\n'
    )
    storage = cache / "storage.conf"
    storage.write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{cache}/storage"\nrunroot = "{run}/storage"\n'
    )
    return {**os.environ, "CONTAINERS_CONF": str(conf), "CONTAINERS_STORAGE_CONF": str(storage)}


def _user_run_dir(uid: int) -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return Path(runtime) / "stampede-containers" if runtime else Path(f"/tmp/stampede-run-{uid}")


def _within(limit: int, wanted: int) -> int:
    _soft, hard = resource.getrlimit(limit)
    return wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)


# --- engines ------------------------------------------------------------------------------------
def engine_works(engine: str, env: dict[str, str]) -> bool:
    """`info` answers: for Docker that means a reachable daemon, not just a client binary."""
    if not shutil.which(engine):
        return False
    try:
        done = subprocess.run(
            [engine, "info"], env=env, capture_output=True, timeout=30, check=False
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def image_exists(engine: str, image: str, env: dict[str, str]) -> bool:
    done = subprocess.run(
        [engine, "image", "inspect", image], env=env, capture_output=True, timeout=60, check=False
    )
    return done.returncode == 0


def _run(argv: list[str], env: dict[str, str], what: str, **kwargs: object) -> None:
    try:
        done = subprocess.run(
            argv,
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
            **kwargs,  # type: ignore[arg-type]
        )
    except subprocess.TimeoutExpired as exc:
        raise ImageError(f"{what}: no result within {BUILD_TIMEOUT} s") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise ImageError(f"{what} failed (exit {done.returncode}):\n{tail}")


# --- recipes ------------------------------------------------------------------------------------
def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big") + part)
    return h.hexdigest()[:16]


def python_tag() -> str:
    ca = HOST_CA_BUNDLE.read_bytes() if HOST_CA_BUNDLE.exists() else b""
    recipe = f"mmdebstrap minbase {SUITE} {','.join(PACKAGES)}".encode()
    return f"localhost/stampede-python:{_digest(recipe, ca)}"


def prometheus_tag(base: str) -> str:
    if not HOST_PROMETHEUS.exists():
        raise ImageError(
            f"{HOST_PROMETHEUS} missing; run: apt-get install -y --no-install-recommends prometheus"
        )
    binary = hashlib.sha256(HOST_PROMETHEUS.read_bytes()).digest()
    recipe = PROMETHEUS_RECIPE.encode()
    return f"localhost/stampede-prometheus:{_digest(base.encode(), recipe, binary)}"


def build_python(engine: str, tag: str, env: dict[str, str]) -> None:
    if not shutil.which("mmdebstrap"):
        raise ImageError("mmdebstrap missing; run: apt-get install -y mmdebstrap")
    with tempfile.TemporaryDirectory(prefix="stampede-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        hooks = []
        if HOST_CA_BUNDLE.exists():
            # The whole host bundle, so a CA the host added any way at all is trusted.
            hooks += [
                f"--customize-hook=upload {HOST_CA_BUNDLE} "
                "/usr/local/share/ca-certificates/host-bundle.crt",
                '--customize-hook=chroot "$1" update-ca-certificates',
            ]
        argv = [
            "mmdebstrap",
            "--quiet",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            *hooks,
            # Not needed at run time; keeps the image small.
            '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*',
            SUITE,
            str(rootfs),
        ]
        _run(argv, env, f"mmdebstrap {SUITE}")
        _run([engine, "import", str(rootfs), tag], env, f"{engine} import {tag}")


def build_prometheus(engine: str, base: str, tag: str, env: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory(prefix="stampede-prometheus-") as tmp:
        context = Path(tmp)
        (context / "Containerfile").write_text(PROMETHEUS_RECIPE.format(base=base))
        shutil.copy2(HOST_PROMETHEUS, context / "prometheus")
        argv = [engine, "build", "-t", tag, "-f", str(context / "Containerfile"), tmp]
        _run(argv, env, f"{engine} build {tag}")


def ensure_images(engine: str, env: dict[str, str]) -> dict[str, str]:
    """Build what is missing; returns the compose variables naming both images."""
    python = python_tag()
    if not image_exists(engine, python, env):
        build_python(engine, python, env)
    prometheus = prometheus_tag(python)
    if not image_exists(engine, prometheus, env):
        build_prometheus(engine, python, prometheus, env)
    return {"PYTHON_IMAGE": python, "PROMETHEUS_IMAGE": prometheus}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("podman", "docker"), default="podman")
    args = parser.parse_args(argv)
    env = podman_env() if args.engine == "podman" else dict(os.environ)
    if not engine_works(args.engine, env):
        print(f"local_images: `{args.engine} info` fails; is it installed?", file=sys.stderr)
        return 1
    try:
        images = ensure_images(args.engine, env)
    except ImageError as exc:
        print(f"local_images: {exc}", file=sys.stderr)
        return 1
    for name, image in images.items():
        print(f"export {name}={image}")
    if args.engine == "podman":
        # Every later podman call must use the same storage.
        print(f"export CONTAINERS_CONF={env['CONTAINERS_CONF']}")
        print(f"export CONTAINERS_STORAGE_CONF={env['CONTAINERS_STORAGE_CONF']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
