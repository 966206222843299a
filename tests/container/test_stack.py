"""`docker compose up` for real: the compose stack run by a container engine, storm included.

One test, in bounded steps, each timed (`-s` prints the table):
  1. base images built or reused (scripts/local_images.py, cached by content outside the clone);
  2. the project image built once (one service's build: they all share stampede:local);
  3. `up -d`: the three servers, Prometheus, Locust master and worker (Grafana is left out by
     compose.offline.yml: no registry here has it);
  4. every server's /healthz answers on its published 127.0.0.1 port, and the image's own
     healthcheck (`stampede healthcheck`) passes inside each container;
  5. Prometheus' /api/v1/targets shows every scrape target up (the headless one in step 6);
  6. the headless storm service runs a few seconds, scraped while it runs;
  7. its CSVs and HTML report land in a results folder of the test's own;
  8. every dashboard panel's query returns data from the compose Prometheus;
  9. `down -v`, then no container, network, volume or pod of ours is left, and the host's
     net.ipv4.ip_forward and nftables are as before (netavark changes both; put back here).
A failure prints the failing service's logs and still tears everything down.

The engine: podman when `podman info` works (its config and storage are the test's own, no
daemon, nothing of the user's touched), else Docker when `docker info` works; STAMPEDE_ENGINE
picks one. Neither working fails the test: scripts/ensure-tools.sh installs podman. With
Docker, the daemon owns ip_forward and its iptables chains, so step 9 checks only ours.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.container import prom_helpers as ph
from tests.container.stack_engine import (
    IP_FORWARD,
    STORM_SECONDS,
    Engine,
    Stack,
    host_network_restored,
    local_images,
    one_stack_test_at_a_time,
    ruleset,
)
from tests.container.test_prometheus_live import (
    Prometheus,
    assert_returns_data,
    finite_values,
)

pytestmark = pytest.mark.timeout(480)

SERVERS = {"server-to-thread": "to_thread", "server-future": "future", "server-batched": "batched"}
UP = (*SERVERS, "prometheus", "locust-master", "locust-worker")


class Steps:
    """Times each step; the table is printed at the end, whatever happened."""

    def __init__(self) -> None:
        self.times: list[tuple[str, float]] = []

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.times.append((name, time.monotonic() - started))

    def table(self) -> str:
        rows = [f"  {name:<44} {seconds:6.1f} s" for name, seconds in self.times]
        total = sum(s for _, s in self.times)
        return "\n".join(["stack test steps:", *rows, f"  {'total':<44} {total:6.1f} s"])


def storm_figures(results: Path) -> dict[str, dict[str, float]]:
    """{stats name: requests, failures, rps, median ms} from the storm's locust_stats.csv."""
    (run,) = [p for p in results.iterdir() if p.name.startswith("compose-")]
    with (run / "locust_stats.csv").open(newline="") as handle:
        return {
            row["Name"]: {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "rps": float(row["Requests/s"]),
                "median_ms": float(row["Median Response Time"] or 0),
            }
            for row in csv.DictReader(handle)
        }


# --- the test -------------------------------------------------------------------------------------
def test_compose_stack_runs_for_real() -> None:
    steps = Steps()
    engine = Engine()
    with (
        one_stack_test_at_a_time(),
        tempfile.TemporaryDirectory(prefix="stampede-stack-") as tmp,
        host_network_restored(engine) as network_before,
    ):
        inventory_before = engine.inventory()
        stack = Stack(engine, Path(tmp))
        try:
            run_stack(stack, steps)
        finally:
            with steps.step("9. down -v"):
                stack.stop_all()
                stack.compose("down", "-v", "-t", "5", timeout=120, headless=True)
            print("\n" + steps.table())
    # After host_network_restored has put ip_forward and nftables back.
    left = {k: v - inventory_before.get(k, set()) for k, v in engine.inventory().items()}
    assert not any(left.values()), f"left behind after down -v: {left}"
    ours = [name for names in engine.inventory().values() for name in names]
    assert not [n for n in ours if stack.project in n], ours
    if engine.name == "podman" and os.getuid() == 0:
        assert IP_FORWARD.read_text().strip() == network_before["ip_forward"]
        assert ruleset() == network_before["ruleset"], "nftables not as before the stack test"


def run_stack(stack: Stack, steps: Steps) -> None:
    engine = stack.engine
    with steps.step("1. base images (build or reuse)"):
        try:
            images = local_images.ensure_images(engine.name, engine.env)
        except local_images.ImageError as exc:
            raise AssertionError(str(exc)) from None
        stack.env.update(images)
        print(f"\nengine {engine.name}; images {images}")

    with steps.step("2. project image, built once (or reused)"):
        # Every service shares stampede:local; building one builds it for all (podman-compose
        # would otherwise build it once per service, in parallel). An image built from the
        # same context and base is reused: a cached rebuild still spends ~12 s checksumming
        # the venv it copies between stages.
        built = f"stampede:ctx-{context_digest(images['PYTHON_IMAGE'])}"
        if local_images.image_exists(engine.name, built, engine.env):
            engine.run([engine.name, "tag", built, "stampede:local"], 60, "tag the image")
        else:
            stack.compose("build", "server-to-thread", timeout=400)
            for old in engine.lines("images", "--format", "{{.Repository}}:{{.Tag}}"):
                if re.fullmatch(r"(localhost/)?stampede:ctx-\w+", old):
                    engine.run([engine.name, "rmi", old], 60, f"untag {old}")
            # The build stage's layers stay: they are the cache that makes the next code
            # change a 15 s build rather than a 70 s one.
            engine.run([engine.name, "tag", "stampede:local", built], 60, "tag the image")

    with steps.step("3. up -d (servers, Prometheus, Locust)"):
        stack.compose("up", "-d", "--no-build", timeout=120)
        running = stack.containers()
        assert set(running) == set(UP), f"started {sorted(running)}, wanted {sorted(UP)}"

    with steps.step("4. /healthz on each published port"):
        for service, port in stack.server_ports.items():
            url = f"http://127.0.0.1:{port}/healthz"
            stack.wait(
                lambda url=url: httpx.get(url, timeout=2).json()["status"] == "ok",
                60, f"{service} {url}", service,
            )  # fmt: skip
        for service in (*SERVERS, "locust-master"):
            stack.wait(
                lambda s=service: healthcheck_passes(stack, s),
                60,
                f"{service} healthcheck",
                service,
            )

    with steps.step("5. every Prometheus target up"):
        expected = scrape_targets() - {"headless:9646"}  # that one is up in step 6
        seen: dict[str, str] = {}

        def all_up() -> bool:
            seen.clear()
            seen.update({t["labels"]["instance"]: t["health"] for t in stack.targets()})
            return all(seen.get(target) == "up" for target in expected)

        stack.wait(
            all_up, 60, lambda: f"every target up (last seen: {seen})",
            ("prometheus", *SERVERS, "locust-master"),
        )  # fmt: skip
        scraped = sorted(t["scrapeUrl"] for t in stack.targets())
        print(f"Prometheus scrapes: {scraped}")

    prom = StormPrometheus(stack.prom_url, start=time.time())
    with steps.step(f"6. headless storm ({STORM_SECONDS} s)"):
        stack.compose("up", "-d", "--no-deps", "headless", timeout=60, headless=True)
        # Its client metrics must be scraped while it runs, or the client panels have no data.
        stack.wait(
            lambda: any(
                t["labels"].get("runner") == "headless" and t["health"] == "up"
                for t in stack.targets()
            ),
            STORM_SECONDS + 20, "Prometheus scraping the storm", ("headless", "prometheus"),
        )  # fmt: skip

        def finished() -> bool:
            # The client series go stale once the storm's container is gone, so instant
            # queries are asked at the last moment Prometheus was seen scraping it.
            # The target's health stays "up" until the scrape after the exit, so the moment
            # is its last scrape's own timestamp, not the time we looked.
            for target in stack.targets():
                if target["labels"].get("runner") == "headless" and target["health"] == "up":
                    prom.at = max(prom.at, scrape_time(target["lastScrape"]) + 0.001)
            return stack.containers()["headless"]["state"] in ("exited", "stopped")

        stack.wait(finished, STORM_SECONDS + 60, "the headless storm to finish", "headless")
        exit_code = stack.containers()["headless"]["exit"]
        if exit_code not in (0, "0"):
            raise stack.fail("headless", f"headless storm exited {exit_code}")

    with steps.step("7. results in the test's own folder"):
        figures = storm_figures(stack.results)
        print("storm figures (inside the compose network):")
        for name, row in figures.items():
            print(f"  {name:<34} {row}")
        for variant in SERVERS.values():
            sent = sum(r["requests"] for n, r in figures.items() if n.startswith(f"{variant}:"))
            assert sent > 0, f"no {variant} requests in the storm: {figures}"
        run = next(stack.results.iterdir())
        for name in ("locust_stats_history.csv", "locust_failures.csv", "locust.html"):
            assert (run / name).stat().st_size > 0, f"{run / name} missing or empty"

    with steps.step("8. every dashboard query returns data"):
        queries = [q for q in ph.all_queries() if not q.annotation]
        assert len(queries) >= 10, queries
        pairs = [(query, variant) for query in queries for variant in SERVERS.values()]
        with ThreadPoolExecutor(6) as pool:
            failures = [
                str(exc)
                for exc in pool.map(lambda qv: returns_data_or_error(prom, *qv), pairs)
                if exc
            ]
        if failures:
            raise stack.fail(
                "prometheus", f"{len(failures)} of {len(pairs)} failed:\n" + "\n".join(failures)
            )
        up = prom.instant('up{job="stampede-server"}')
        assert len(finite_values(up)) == 3, up
        print(f"dashboard queries checked: {len(queries)} x {len(SERVERS)} variants")


class StormPrometheus(Prometheus):
    """Instant queries at `at`, a moment the storm was being scraped: what a dashboard open
    during the storm shows. Range queries cover the storm, as in test_prometheus_live."""

    at: float = 0.0
    client: httpx.Client = httpx.Client(timeout=10)  # one pool for hundreds of queries

    def _get(self, path: str, **params: Any) -> list[dict[str, Any]]:
        body = self.client.get(f"{self.url}{path}", params=params).json()
        assert body.get("status") == "success", f"{params}: {body}"
        return body["data"]["result"] if isinstance(body["data"], dict) else body["data"]

    def instant(self, expr: str) -> list[dict[str, Any]]:
        return self._get("/api/v1/query", query=expr, time=self.at or time.time())


def scrape_time(rfc3339: str) -> float:
    """Prometheus' lastScrape ("2026-12-01T23:10:47.123456789Z") as a Unix time."""
    stamp = re.sub(r"(\.\d{6})\d*", r"\1", rfc3339).replace("Z", "+00:00")
    return datetime.fromisoformat(stamp).timestamp()


def returns_data_or_error(prom: Prometheus, query: ph.Query, variant: str) -> Exception | None:
    try:
        assert_returns_data(prom, query, variant)
    except AssertionError as exc:
        return exc
    return None


def context_digest(base_image: str) -> str:
    """Hash of what the image is built from: the Dockerfile, the base image's tag (itself a
    content hash) and every file .dockerignore lets into the context."""
    h = hashlib.sha256(base_image.encode())
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "setup.py", "README.md"):
        h.update(name.encode() + b"\0" + (ph.REPO / name).read_bytes())
    for folder in ("stampede", "server", "loadtest"):
        for path in sorted((ph.REPO / folder).rglob("*")):
            if "__pycache__" in path.parts or path.suffix == ".pyc" or path.is_dir():
                continue
            rel = path.relative_to(ph.REPO).as_posix().encode()
            body = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
            h.update(rel + b"\0" + body)
    return h.hexdigest()[:16]


def scrape_targets() -> set[str]:
    """host:port of every static target in the compose Prometheus config."""
    config = yaml.safe_load(ph.PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    return {
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }


def healthcheck_passes(stack: Stack, service: str) -> bool:
    """The image's healthcheck (`stampede healthcheck`) inside the container. podman without
    systemd schedules no healthchecks, so it is run here; Docker runs them itself."""
    container = stack.containers()[service]["name"]
    engine = stack.engine
    if engine.name == "podman":
        done = subprocess.run(
            ["podman", "healthcheck", "run", container],
            env=engine.env, capture_output=True, timeout=30, check=False,
        )  # fmt: skip
        return done.returncode == 0
    status = engine.run(
        ["docker", "inspect", "--format", "{{.State.Health.Status}}", container], 30, "inspect"
    )
    return status.strip() == "healthy"


if __name__ == "__main__":  # python tests/container/test_stack.py: the same as make stack-test
    sys.exit(pytest.main(["-s", __file__]))
