"""`stampede compare --sdk`: one cached virtual environment per exact SDK release.

Each `package==version` gets its own venv under the user cache dir
($XDG_CACHE_HOME/stampede/venvs, else ~/.cache/stampede/venvs), created on first use and reused
afterwards. It holds the server's runtime requirements (pyproject's dependencies minus the
load-test-only ones) and that exact SDK release, resolved by pip in one go. The key hashes
the interpreter, the requirements and the spec, not where Stampede's source is, so a second clone
(or CI's fresh one) reuses the env. Stampede's own packages reach a run through a small folder per
source tree inside the env (symlinks and a `python` wrapper that puts them on PYTHONPATH), so each
clone's variant runs that clone's code, and two clones can share one env at once.

Concurrency model: creation holds an exclusive flock on the env's lock file, so two runs that
want the same env build it once; a run waits for that lock at most LOCK_WAIT_S (one build's
worth) and then fails with one line naming the lock. An env counts only once its ready marker
exists (written last), and a half-built one left by a killed run is removed and rebuilt. Every
pip call is bounded by a timeout, prints a progress line while it runs, and dies with the
harness (its own process group, a parent-death signal).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import stampede
import stampede.server
from stampede.loadtest.errors import HarnessError, UsageError
from stampede.loadtest.process.processes import spawn, stop_group
from stampede.server.sdk import MINIMUM, SHARED_AGENT_MINIMUM, release
from stampede.server.settings import ServerSettings, server_argv

ROOT = Path(__file__).resolve().parents[2]
FORMAT = 4  # bump to invalidate every cached env
# Which scenarios each SDK is the system under test of (the first is the default), the server
# settings that select it there, and the first release Stampede drives in it.
SCENARIOS_OF = {
    "agent-client-protocol": ("session",),
    "claude-agent-sdk": ("stream",),
    "strands-agents": ("idempotency", "shared_agent"),
}
SETTINGS_FOR = {
    ("agent-client-protocol", "session"): {"session_impl": "acp"},
    ("claude-agent-sdk", "stream"): {"stream_impl": "claude-agent-sdk"},
    ("strands-agents", "idempotency"): {"agent": "strands", "waiter": "future"},
    ("strands-agents", "shared_agent"): {"shared_agent_impl": "strands"},
}
FLOOR_FOR = {(package, scenario): MINIMUM[package] for package, scenario in SETTINGS_FOR}
FLOOR_FOR[("strands-agents", "shared_agent")] = SHARED_AGENT_MINIMUM
CLIENT_ONLY = frozenset({"locust", "matplotlib", "rich"})  # the server never imports these
VERSION = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")
PIP_TIMEOUT_S = 900.0
LOCK_WAIT_S = PIP_TIMEOUT_S + 60.0  # another run's build of the same env ends by then
HEARTBEAT_S = 5.0

Say = Callable[[str], None]


@dataclass(frozen=True)
class SdkSpec:
    package: str
    version: str

    def __str__(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def scenario(self) -> str:
        """The scenario `compare --sdk` runs this package in when none is named."""
        return SCENARIOS_OF[self.package][0]

    @property
    def scenarios(self) -> tuple[str, ...]:
        return SCENARIOS_OF[self.package]

    def settings_for(self, scenario: str) -> dict[str, str]:
        return dict(SETTINGS_FOR[(self.package, scenario)])

    def floor(self, scenario: str) -> tuple[int, ...]:
        return FLOOR_FOR[(self.package, scenario)]


def parse_spec(text: str) -> SdkSpec:
    """`package==version` with a supported package and an exact release; ValueError if not."""
    package, sep, version = text.strip().partition("==")
    package, version = package.strip().lower().replace("_", "-"), version.strip()
    if not sep or not package or not version:
        example = "agent-client-protocol==0.8.1"
        raise ValueError(f"--sdk {text!r}: write package==version, e.g. {example}")
    if package not in SCENARIOS_OF:
        known = ", ".join(sorted(SCENARIOS_OF))
        raise ValueError(f"--sdk {text!r}: package must be one of {known}")
    if not VERSION.match(version):
        raise ValueError(f"--sdk {text!r}: {version!r} is not an exact version like 1.2.3")
    # Checked before any install: the first releases Stampede's server can drive (in any of the
    # package's scenarios here; check_scenario holds it to the floor of the one that runs).
    spec = SdkSpec(package, version)
    if all(release(version) < spec.floor(scenario) for scenario in spec.scenarios):
        raise ValueError(f"--sdk {text!r}: Stampede drives {package} >= {_floors(spec)} only")
    return spec


def _floors(spec: SdkSpec) -> str:
    """The package's floors in words: one, or each with its scenario when they differ."""
    floors = {scenario: ".".join(map(str, spec.floor(scenario))) for scenario in spec.scenarios}
    if len(set(floors.values())) == 1:
        return next(iter(floors.values()))
    return ", ".join(f"{floor} (--scenario {scenario})" for scenario, floor in floors.items())


def parse_specs(text: str) -> tuple[SdkSpec, ...]:
    """A comma list of specs, one package only, no repeats."""
    specs = tuple(parse_spec(part) for part in text.split(",") if part.strip())
    if not specs:
        raise ValueError(f"--sdk {text!r}: name at least one package==version")
    if len({s.package for s in specs}) > 1:
        raise ValueError(f"--sdk {text!r}: compare releases of one package at a time")
    if len(set(specs)) != len(specs):
        raise ValueError(f"--sdk {text!r}: a release is named twice")
    return specs


def check_scenario(specs: tuple[SdkSpec, ...], scenario: str) -> None:
    """Each release runs in `scenario`, and is no older than that scenario's floor."""
    for spec in specs:
        if scenario not in spec.scenarios:
            which = " or ".join(f"--scenario {name}" for name in spec.scenarios)
            raise ValueError(
                f"--sdk {spec}: {spec.package} is compared with {which}, not {scenario}"
            )
        if release(spec.version) < spec.floor(scenario):
            floor = ".".join(map(str, spec.floor(scenario)))
            others = [name for name in spec.scenarios if release(spec.version) >= spec.floor(name)]
            hint = f" (this release runs with --scenario {' or '.join(others)})" if others else ""
            raise ValueError(
                f"--sdk {spec}: --scenario {scenario} drives {spec.package} >= {floor} only{hint}"
            )


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stampede" / "venvs"


def server_requirements() -> list[str]:
    keep = []
    for requirement in _declared_requirements():
        name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()
        if name not in CLIENT_ONLY:
            keep.append(requirement)
    return sorted(keep)


def _declared_requirements() -> list[str]:
    pyproject = ROOT / "pyproject.toml"
    if pyproject.is_file():  # a source tree: what it declares now
        return list(tomllib.loads(pyproject.read_text())["project"]["dependencies"])
    declared = importlib.metadata.requires("stampede") or []  # an installed Stampede
    return [r for r in declared if "extra ==" not in r]


def env_dir(spec: SdkSpec) -> Path:
    key = {
        "format": FORMAT,
        "python": [sys.version, os.path.realpath(getattr(sys, "_base_executable", sys.executable))],
        "requirements": server_requirements(),
        "spec": str(spec),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_root() / f"{spec.package}-{spec.version}-{digest}"


def env_python(path: Path) -> Path:
    return path / "bin" / "python"


def is_ready(path: Path) -> bool:
    return (path / "stampede-ready.json").is_file() and env_python(path).exists()


def source_python(path: Path) -> Path:
    """The env's interpreter wrapped to run this source tree's Stampede (made on first use).

    The wrapper `exec`s the env's python, so the server keeps the pid the launcher started.
    """
    top = Path(stampede.__file__).resolve().parent
    digest = hashlib.sha256(str(top).encode()).hexdigest()[:12]
    folder = path / "sources" / digest
    wrapper = folder / "python"
    if wrapper.exists():
        return wrapper
    scratch = Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=path))
    _link_source(scratch / "stampede")
    (scratch / "python").write_text(
        f'#!/bin/sh\nPYTHONPATH="{folder}${{PYTHONPATH:+:$PYTHONPATH}}" '
        f'exec "{env_python(path)}" "$@"\n'
    )
    (scratch / "python").chmod(0o755)
    folder.parent.mkdir(exist_ok=True)
    try:
        scratch.rename(folder)  # atomic: a concurrent run either wins or finds it made
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
    return wrapper


def server_command(python: Path) -> list[str]:
    """argv prefix that runs `stampede serve` with the env's interpreter (flags follow)."""
    return server_argv(ServerSettings.explicit(), str(python))


def prepare_for_compare(specs: tuple[str, ...]) -> dict[str, Path]:
    """`stampede compare --sdk`: every release's env, with progress lines on stderr."""

    def say(message: str) -> None:
        print(f"stampede compare: {message}", file=sys.stderr, flush=True)

    return prepare(tuple(parse_spec(spec) for spec in specs), say)


def sdk_python(spec: str) -> str:
    """The interpreter of a prepared release's env (see prepare_for_compare)."""
    path = env_dir(parse_spec(spec))
    if not is_ready(path):
        raise UsageError(f"--sdk {spec}: its environment is not prepared")
    return str(source_python(path))


def prepare(specs: tuple[SdkSpec, ...], say: Say) -> dict[str, Path]:
    """Every spec's env, ready to run; UsageError naming a spec that cannot be installed.

    Releases not yet cached are looked up first (a quick wheel download each), so a bad one
    fails before any slow install starts.
    """
    missing = [spec for spec in specs if not is_ready(env_dir(spec))]
    for spec in missing:
        _check_installable(spec, say)
    return {str(spec): ensure_env(spec, say) for spec in specs}


def ensure_env(spec: SdkSpec, say: Say) -> Path:
    """The env's python, creating the env first if it is not cached yet."""
    path = env_dir(spec)
    if is_ready(path):
        return source_python(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.parent / f"{path.name}.lock", spec, say):
        if not is_ready(path):  # another run may have built it while we waited
            _build(spec, path, say)
    return source_python(path)


@contextlib.contextmanager
def _locked(
    lock_path: Path, spec: SdkSpec, say: Say, wait_s: float | None = None
) -> Iterator[None]:
    """Hold the env's build lock; HarnessError after `wait_s` (default LOCK_WAIT_S)."""
    wait_s = LOCK_WAIT_S if wait_s is None else wait_s
    with lock_path.open("a") as handle:
        started = time.monotonic()
        next_note = started
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= wait_s:
                    raise HarnessError(
                        f"{spec}: another run has been building its environment for over "
                        f"{wait_s:.0f} s (lock {lock_path}); try again later"
                    ) from None
                if time.monotonic() >= next_note:
                    say(f"{spec}: waiting for another run building it ({waited:.0f} s)")
                    next_note += HEARTBEAT_S
                time.sleep(min(0.2, max(0.0, wait_s - waited)))
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(spec: SdkSpec, path: Path, say: Say) -> None:
    shutil.rmtree(path, ignore_errors=True)  # a half-built env from a killed run
    started = time.monotonic()
    say(f"{spec}: creating its environment in {_home(path)} (first use; cached afterwards)")
    try:
        _run([sys.executable, "-m", "venv", str(path)], f"create a venv for {spec}", say)
        python = str(env_python(path))
        pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-q"]
        _run([*pip, *server_requirements(), str(spec)], f"install {spec}", say, heartbeat=True)
        smoke = [str(source_python(path)), "-P", "-c", smoke_code(spec)]
        _run(smoke, f"load {spec} in Stampede's server", say)
    except UsageError:
        shutil.rmtree(path, ignore_errors=True)
        raise
    elapsed = time.monotonic() - started
    info = {"spec": str(spec), "created_at": time.time(), "seconds": round(elapsed, 1)}
    (path / "stampede-ready.json").write_text(json.dumps(info) + "\n")
    say(f"{spec}: environment ready in {elapsed:.0f} s")


def _link_source(package: Path) -> None:
    """Lay out Stampede's `stampede` package (its server, not its harness) at `package`.

    The layout is rebuilt from where the packages really are, so it works from a source tree
    (server/ mapped into stampede/) and from an installed wheel alike.
    """
    package.mkdir(parents=True)
    top = Path(stampede.__file__).resolve().parent
    for entry in top.iterdir():
        if entry.name not in {"server", "loadtest", "__pycache__"}:
            (package / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    server = Path(stampede.server.__file__).resolve().parent
    (package / "server").symlink_to(server, target_is_directory=True)


# Imports what the server will import, so a release the server cannot drive fails here: per
# scenario, run for each scenario the release is new enough for.
_SMOKE = {
    "session": "from stampede.server.sdk import acp_module; acp_module()",
    "stream": "from stampede.server.sdk import claude_stream_module as m; m()",
    "idempotency": "from stampede.server.sdk import strands_module; strands_module()",
    "shared_agent": "from stampede.server.sdk import strands_shared_module as m; m()",
}


def smoke_code(spec: SdkSpec) -> str:
    usable = [s for s in spec.scenarios if release(spec.version) >= spec.floor(s)]
    return "; ".join(_SMOKE[scenario] for scenario in usable)


def _check_installable(spec: SdkSpec, say: Say) -> None:
    say(f"{spec}: looking it up")
    with tempfile.TemporaryDirectory(prefix="stampede-sdk-") as scratch:
        argv = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
                "--no-input", "-q", "--no-deps", "--dest", scratch, str(spec)]  # fmt: skip
        _run(argv, f"find {spec}", say)


def _run(argv: list[str], what: str, say: Say, *, heartbeat: bool = False) -> str:
    """Run one bounded step; UsageError with pip's own reason when it fails."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as out:
        proc = spawn(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=os.environ
        )
        try:
            while proc.poll() is None:
                waited = time.monotonic() - started
                if waited > PIP_TIMEOUT_S:
                    raise UsageError(f"cannot {what}: no answer in {PIP_TIMEOUT_S:.0f} s")
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=HEARTBEAT_S)
                if heartbeat and proc.poll() is None:
                    say(f"  ... still working: {what} ({time.monotonic() - started:.0f} s)")
        finally:
            stop_group(proc, timeout=1.0)  # pip's own helpers too
        out.seek(0)
        text = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise UsageError(f"cannot {what}: {_reason(text)}")
    return text


def _reason(output: str) -> str:
    """The line of pip's output that says why; the last error line otherwise."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for pattern in ("No matching distribution", "Could not find a version", "ResolutionImpossible"):
        for line in lines:
            if pattern in line:
                return line.removeprefix("ERROR: ")
    errors = [line for line in lines if not line.startswith("WARNING")]
    return (errors or ["no output"])[-1].removeprefix("ERROR: ")


def _home(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return "~/" + str(path.relative_to(Path.home()))
    return str(path)
