"""The stack test's parts: the container engine (podman, its config and storage the test's own
via scripts/local_images.py, or Docker), the compose project (Stack), one stack test at a
time per machine, and the host's ip_forward and nftables put back as they were after `down -v`
(netavark changes both)."""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.container import prom_helpers as ph

COMPOSE_FILES = (ph.REPO / "docker-compose.yml", ph.REPO / "compose.offline.yml")
STORM_SECONDS = 5
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
LOG_TAIL = 60  # lines of a failing service's log


def _load_local_images() -> Any:
    spec = importlib.util.spec_from_file_location(
        "local_images", ph.REPO / "scripts" / "local_images.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


local_images = _load_local_images()


# --- the engine -----------------------------------------------------------------------------------
class Engine:
    """One container engine and its compose front end, every call bounded."""

    def __init__(self) -> None:
        wanted = os.environ.get("STAMPEDE_ENGINE", "")
        if wanted not in ("", "podman", "docker"):
            raise AssertionError(f"STAMPEDE_ENGINE={wanted!r}: use podman or docker")
        podman_env = local_images.podman_env()
        candidates = [wanted] if wanted else ["podman", "docker"]
        for name in candidates:
            env = podman_env if name == "podman" else dict(os.environ)
            if local_images.engine_works(name, env):
                self.name, self.env = name, env
                break
        else:
            raise AssertionError(
                f"no working container engine ({' or '.join(candidates)} info fails); "
                "run scripts/ensure-tools.sh engine"
            )
        if self.name == "podman":
            self.compose = [ph.require_tool("podman-compose")]
            # OCI images drop HEALTHCHECK; the docker format keeps the Dockerfile's.
            self.env = {**self.env, "BUILDAH_FORMAT": "docker"}
        else:
            self.compose = ["docker", "compose"]

    def run(self, argv: list[str], timeout: float, what: str) -> str:
        try:
            done = subprocess.run(
                argv, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            out = (exc.stdout or b"").decode(errors="replace") if exc.stdout else ""
            raise AssertionError(f"{what}: not done within {timeout:g} s\n{tail(out)}") from None
        if done.returncode != 0:
            raise AssertionError(
                f"{what}: exit {done.returncode}\n{tail(done.stdout + done.stderr)}"
            )
        return done.stdout

    def lines(self, *argv: str) -> set[str]:
        out = self.run([self.name, *argv], 60, f"{self.name} {' '.join(argv)}")
        return {line.strip() for line in out.splitlines() if line.strip()}

    def inventory(self) -> dict[str, set[str]]:
        """Everything that could be left behind, by kind."""
        found = {
            "containers": self.lines("ps", "-a", "--format", "{{.Names}}"),
            "networks": self.lines("network", "ls", "--format", "{{.Name}}"),
            "volumes": self.lines("volume", "ls", "--format", "{{.Name}}"),
        }
        if self.name == "podman":
            found["pods"] = self.lines("pod", "ls", "--format", "{{.Name}}")
        return found


def tail(text: str, lines: int = LOG_TAIL) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# --- the host's network state -----------------------------------------------------------------
_COUNTER = re.compile(r"counter packets \d+ bytes \d+")


def ruleset() -> str:
    nft = shutil.which("nft")
    if not nft:
        return ""
    done = subprocess.run([nft, "list", "ruleset"], capture_output=True, text=True, timeout=30)
    return _COUNTER.sub("counter", done.stdout) if done.returncode == 0 else ""


def nft_json() -> dict[str, Any]:
    done = subprocess.run(
        ["nft", "-j", "-a", "list", "ruleset"], capture_output=True, text=True, timeout=30
    )
    return json.loads(done.stdout) if done.returncode == 0 else {"nftables": []}


def restore_netfilter(before: str) -> None:
    """Undo netavark's nftables leftovers: tables it created, chains it added to tables that
    were there, and the rules jumping to them. Only NETAVARK* chains and rules that refer to
    them are removed; anything else new is reported, not touched."""
    if not shutil.which("nft") or ruleset() == before:
        return
    tables_before = set(re.findall(r"^table (\w+) (\S+) \{", before, re.M))
    items = [next(iter(i.items())) for i in nft_json()["nftables"]]
    chains_before = set(re.findall(r"^\s*chain (\S+) \{", before, re.M))
    commands: list[list[str]] = []
    for kind, item in items:
        if kind == "table" and (item["family"], item["name"]) not in tables_before:
            chains = [i for k, i in items if k == "chain" and i["table"] == item["name"]]
            rules = [i for k, i in items if k == "rule" and i["table"] == item["name"]]
            foreign = [c["name"] for c in chains if not _ours(c["name"], rules, c["name"])]
            assert not foreign, f"new table {item['name']} has chains not netavark's: {foreign}"
            commands.append(["delete", "table", item["family"], item["name"]])
    new_tables = {(c[2], c[3]) for c in commands}
    for kind, item in items:
        if kind != "rule" or (item["family"], item["table"]) in new_tables:
            continue
        target = _jump_target(item)
        if target and target.startswith("NETAVARK") and target not in chains_before:
            commands.append(
                ["delete", "rule", item["family"], item["table"], item["chain"],
                 "handle", str(item["handle"])]
            )  # fmt: skip
    for kind, item in items:
        if (
            kind == "chain"
            and (item["family"], item["table"]) not in new_tables
            and item["name"].startswith("NETAVARK")
            and item["name"] not in chains_before
        ):
            commands.append(["flush", "chain", item["family"], item["table"], item["name"]])
            commands.append(["delete", "chain", item["family"], item["table"], item["name"]])
    for command in commands:
        subprocess.run(["nft", *command], capture_output=True, timeout=30, check=True)


def _jump_target(rule: dict[str, Any]) -> str | None:
    for expr in rule.get("expr", []):
        for verdict in ("jump", "goto"):
            if verdict in expr:
                return expr[verdict]["target"]
    return None


def _ours(chain: str, rules: list[dict[str, Any]], name: str) -> bool:
    """A NETAVARK chain, or a base chain whose every rule jumps to one."""
    if chain.startswith("NETAVARK"):
        return True
    mine = [r for r in rules if r["chain"] == name]
    return all((_jump_target(r) or "").startswith("NETAVARK") for r in mine)


@contextlib.contextmanager
def host_network_restored(engine: Engine) -> Iterator[dict[str, str]]:
    """Yields the state before; afterwards puts ip_forward and nftables back (podman only:
    Docker's daemon owns both and had them set before we came)."""
    before = {"ip_forward": IP_FORWARD.read_text().strip(), "ruleset": ruleset()}
    try:
        yield before
    finally:
        if engine.name == "podman" and os.getuid() == 0:
            if IP_FORWARD.read_text().strip() != before["ip_forward"]:
                IP_FORWARD.write_text(before["ip_forward"] + "\n")
            restore_netfilter(before["ruleset"])


# --- the stack ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    """The compose project: its commands, environment and the logs of a failing service."""

    def __init__(self, engine: Engine, workdir: Path) -> None:
        self.engine = engine
        self.project = f"stampede-test-{os.getpid()}"
        self.results = workdir / "results"
        self.results.mkdir()
        self.results.chmod(0o777)  # a rootless engine's container uid maps to another host uid
        self.ports = {
            name: free_port()
            for name in ("TO_THREAD_PORT", "FUTURE_PORT", "BATCHED_PORT", "LOCUST_PORT")
        }
        self.ports["PROMETHEUS_PORT"] = free_port()
        # The user's STAMPEDE_*/STORM_*/LOCUST_* settings must not reshape the test's stack.
        base = {
            k: v
            for k, v in engine.env.items()
            if not k.startswith(("STAMPEDE_", "STORM_", "LOCUST_", "COMPOSE_"))
        }
        self.env = {
            **base,
            **{k: str(v) for k, v in self.ports.items()},
            "GRAFANA_ADMIN_PASSWORD": secrets.token_hex(12),  # required by the file, unused
            "STAMPEDE_RESULTS_DIR": str(self.results),
            "STAMPEDE_UID": str(os.getuid()),
            "STAMPEDE_GID": str(os.getgid()),
            "STAMPEDE_CPUSET": "0-1" if (os.cpu_count() or 1) >= 2 else "0",
            "STORM_DURATION": f"{STORM_SECONDS}s",
        }
        self.server_ports = {
            "server-to-thread": self.ports["TO_THREAD_PORT"],
            "server-future": self.ports["FUTURE_PORT"],
            "server-batched": self.ports["BATCHED_PORT"],
        }
        self.prom_url = f"http://127.0.0.1:{self.ports['PROMETHEUS_PORT']}"

    def compose(self, *argv: str, timeout: float, headless: bool = False) -> str:
        """One compose command; `headless` adds that profile (the storm's `up`, and `down`,
        which must remove the storm's container too)."""
        files = [arg for f in COMPOSE_FILES for arg in ("-f", str(f))]
        profile = ["--profile", "headless"] if headless else []
        cmd = [*self.engine.compose, "-p", self.project, *files, *profile, *argv]
        env, self.engine.env = self.engine.env, self.env
        try:
            return self.engine.run(cmd, timeout, f"compose {' '.join(argv)}")
        finally:
            self.engine.env = env

    def containers(self) -> dict[str, dict[str, Any]]:
        """{service: {name, state, exit}} of this project, from the engine's labels."""
        out = self.engine.run(
            [self.engine.name, "ps", "-a", "--filter",
             f"label=com.docker.compose.project={self.project}", "--format", "json"],
            60, "list containers",
        )  # fmt: skip
        rows = json.loads(out) if out.strip().startswith("[") else [
            json.loads(line) for line in out.splitlines() if line.strip()
        ]  # fmt: skip
        found = {}
        for row in rows:
            labels = row.get("Labels") or {}
            if isinstance(labels, str):  # docker: "k=v,k=v"
                labels = dict(kv.split("=", 1) for kv in labels.split(",") if "=" in kv)
            names = row.get("Names")
            name = names[0] if isinstance(names, list) else names
            exit_code = row.get("ExitCode")
            if exit_code is None:  # docker ps has only "Exited (0) 2 seconds ago"
                exited = re.match(r"Exited \((\d+)\)", str(row.get("Status", "")))
                exit_code = int(exited[1]) if exited else None
            found[labels.get("com.docker.compose.service", name)] = {
                "name": name,
                "state": str(row.get("State", "")).lower(),
                "exit": exit_code,
            }
        return found

    def stop_all(self) -> None:
        """Stop every container at once: compose front ends stop them one after another."""
        names = [c["name"] for c in self.containers().values()]
        if names:
            with contextlib.suppress(AssertionError):  # `down` below still removes them
                self.engine.run([self.engine.name, "stop", "-t", "5", *names], 60, "stop")

    def logs(self, service: str) -> str:
        container = self.containers().get(service)
        if not container:
            return f"(no container for {service})"
        done = subprocess.run(
            [self.engine.name, "logs", "--tail", str(LOG_TAIL), container["name"]],
            env=self.engine.env, capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        return done.stdout + done.stderr

    def fail(self, service: str | tuple[str, ...], message: str) -> AssertionError:
        services = (service,) if isinstance(service, str) else service
        logs = "\n".join(f"--- {s} logs ---\n{tail(self.logs(s))}" for s in services)
        return AssertionError(f"{message}\n{logs}")

    def wait(
        self,
        check: Callable[[], bool],
        timeout: float,
        what: str | Callable[[], str],  # a callable: the message is built when it fails
        service: str | tuple[str, ...],
    ) -> None:
        started = time.monotonic()
        while time.monotonic() < started + timeout:
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                if check():
                    if isinstance(what, str):
                        print(f"  {what}: {time.monotonic() - started:.1f} s")
                    return
            time.sleep(0.5)
        raise self.fail(service, f"{what() if callable(what) else what}: not within {timeout:g} s")

    def targets(self) -> list[dict[str, Any]]:
        body = httpx.get(f"{self.prom_url}/api/v1/targets", timeout=5).json()
        return body["data"]["activeTargets"]


@contextlib.contextmanager
def one_stack_test_at_a_time() -> Iterator[None]:
    """Two suites on one machine share the engine's storage and the host's netfilter, whose
    before/after comparison another run would spoil: they take turns (bounded)."""
    lock = local_images.CACHE / "stack-test.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        deadline = time.monotonic() + 300
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"another stack test held {lock} for 300 s") from None
                time.sleep(1)
        yield
