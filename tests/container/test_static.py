"""Static checks of the compose stack, no Docker engine needed: the compose file against the
Compose Specification schema, its services, ports, mounts, Locust commands and Grafana setup."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import pytest
import yaml

from tests.container import prom_helpers as ph
from tests.container.compose_interpolation import interpolate

REPO = ph.REPO
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
COMPOSE_SCHEMA = REPO.parent / "shared" / "schemas" / "compose-spec.json"
GRAFANA_PROVISIONING = ph.DASHBOARD_DIR / "provisioning"
IMAGE = "stampede:local"
ADMIN_PASSWORD_VAR = "GRAFANA_ADMIN_PASSWORD"
ADMIN_PASSWORD = "not-the-default-7f3a"
# Grafana releases with the fix: CVE-2025-4123 (12.0.0+security-01) and CVE-2025-6023
# (12.0.2+security-01); a plain release must be newer than the newest of those.
GRAFANA_FIXED_AFTER = (12, 0, 2)
LOOPBACK = "127.0.0.1"
SERVERS = {
    "server-to-thread": "to_thread",
    "server-future": "future",
    "server-batched": "batched",
}
LOCUST_SERVICES = ("locust-master", "locust-worker", "headless")


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose(raw_compose: dict[str, Any]) -> dict[str, Any]:
    # The defaults in the file are what a fresh `docker compose up` sees, plus the one value
    # without a default (the Grafana admin password, required).
    return interpolate(raw_compose, env={ADMIN_PASSWORD_VAR: ADMIN_PASSWORD})


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def host_ip_of(port: Any) -> str | None:
    """Host IP a `ports:` entry publishes on; None means all interfaces."""
    if isinstance(port, dict):
        return port.get("host_ip")
    text = str(port)
    if text.startswith("["):  # [::1]:8000:8000
        return text[1 : text.index("]")]
    parts = text.split(":")
    return parts[0] if len(parts) == 3 else None


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host path, container path) of every relative bind mount in short syntax."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str) and volume.startswith("."):
            host, container, *_ = volume.split(":")
            mounts.append((host, container))
    return mounts


def host_path_for(service: dict[str, Any], container_path: str) -> Path:
    """Map a path inside the container back to the repo through the service's bind mounts."""
    target = PurePosixPath(container_path)
    for host, container in bind_mounts(service):
        if target == PurePosixPath(container) or PurePosixPath(container) in target.parents:
            return REPO / host / target.relative_to(container)
    raise AssertionError(f"{container_path} is not bind-mounted from the repo")


# --- compose --------------------------------------------------------------------------------------
def test_compose_validates_against_the_compose_spec_schema(compose: dict[str, Any]) -> None:
    assert COMPOSE_SCHEMA.is_file(), f"Compose schema missing at {COMPOSE_SCHEMA}"
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors
    )


def test_compose_has_the_stack(services: dict[str, dict[str, Any]]) -> None:
    expected = {*SERVERS, "locust-master", "locust-worker", "headless", "prometheus", "grafana"}
    assert expected <= services.keys()
    assert services["headless"].get("profiles") == ["headless"]
    # Scalable with --scale: a fixed name or a published port would collide between replicas.
    worker = services["locust-worker"]
    assert "container_name" not in worker and "ports" not in worker


def test_every_service_using_the_image_builds_from_the_dockerfile(
    services: dict[str, dict[str, Any]],
) -> None:
    users = {n for n, s in services.items() if s.get("image") == IMAGE or "build" in s}
    assert {*SERVERS, *LOCUST_SERVICES} <= users
    for name in users:
        service = services[name]
        build = service.get("build")
        assert isinstance(build, dict), f"{name}: needs a build section"
        context = REPO / build.get("context", ".")
        assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE, name
        assert service.get("image") == IMAGE, f"{name}: should tag the shared image {IMAGE}"


def test_every_published_port_binds_loopback(services: dict[str, dict[str, Any]]) -> None:
    published = 0
    for name, service in services.items():
        for port in service.get("ports", []):
            published += 1
            assert host_ip_of(port) == LOOPBACK, f"{name}: {port!r} must bind {LOOPBACK}"
    assert published >= 5  # servers, Locust UI, Prometheus, Grafana


def test_servers_are_capped_and_pick_their_waiter(services: dict[str, dict[str, Any]]) -> None:
    for name, waiter in SERVERS.items():
        service = services[name]
        for cap in ("cpus", "cpuset", "mem_limit", "pids_limit", "healthcheck"):
            assert service.get(cap), f"{name}: missing {cap}"
        env = service["environment"]
        assert env["STAMPEDE_WAITER"] == waiter
        assert "STAMPEDE_CPUS" in env
        assert "--host" in service["command"] and "0.0.0.0" in service["command"]


def test_locust_drives_every_server(services: dict[str, dict[str, Any]]) -> None:
    for name in ("locust-master", "headless"):
        command = " ".join(services[name]["command"])
        for server, waiter in SERVERS.items():
            assert f"{waiter}=http://{server}:8000" in command, f"{name}: no target {server}"
        # The exporter binds loopback by default: Prometheus in its own container needs more.
        assert "--prometheus-port=9646" in command and "--prometheus-host=0.0.0.0" in command
    assert "--run-time=" in " ".join(services["headless"]["command"])
    assert ("./results", "/results") in bind_mounts(services["headless"])


# Parses argument lists with Locust's own parser plus the locustfile's custom arguments, and
# prints what matters here, plus the locustfile's user classes. In a subprocess: importing
# locust monkey-patches the interpreter with gevent.
_PARSE_LOCUST_ARGS = """
import json, sys
import locust
import stampede.loadtest.storm.locustfile  # registers the custom arguments
from locust.argument_parser import get_parser
parsed = []
for args in json.loads(sys.argv[1]):
    options = get_parser(default_config_files=[]).parse_args(args)
    parsed.append({key: getattr(options, key, None) for key in (
        "user_classes", "class_picker", "master", "worker", "prometheus_port", "prometheus_host",
        "allow_remote", "targets",
    )})
users = sorted(
    name for name, value in vars(stampede.loadtest.storm.locustfile).items()
    if isinstance(value, type) and issubclass(value, locust.User) and not value.abstract
)
print(json.dumps({"parsed": parsed, "user_classes": users}))
"""


def locust_args(command: list[str]) -> list[str]:
    if command[0] == "locust":
        return command[1:]
    # headless: sh -c "... && exec locust <args>"
    return shlex.split(command[-1].split("exec locust", 1)[1])


@pytest.fixture(scope="module")
def parsed_locust(services: dict[str, dict[str, Any]]) -> dict[str, Any]:
    arg_lists = [locust_args(services[n]["command"]) for n in LOCUST_SERVICES]
    result = subprocess.run(
        [sys.executable, "-c", _PARSE_LOCUST_ARGS, json.dumps(arg_lists)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    return {"options": dict(zip(LOCUST_SERVICES, out["parsed"], strict=True)), **out}


def test_locust_commands_parse_with_the_locustfile(parsed_locust: dict[str, Any]) -> None:
    options = parsed_locust["options"]
    assert options["locust-master"]["master"] and options["locust-worker"]["worker"]


def test_locust_runs_the_idempotency_storm_by_default(
    parsed_locust: dict[str, Any], compose: dict[str, Any]
) -> None:
    # The locustfile holds the stream and session users too; without a positional class Locust
    # would run every one of them against the waiter servers.
    assert {"IdempotencyStormUser", "StreamUser", "HealthCheckUser"} <= set(
        parsed_locust["user_classes"]
    )
    options = parsed_locust["options"]
    for name in ("locust-master", "headless"):
        assert options[name]["user_classes"] == ["IdempotencyStormUser"], name
    # The web UI's class picker is opt-in (it starts with every class ticked); workers load
    # every class and run what the master dispatches, so they name none.
    assert options["locust-master"]["class_picker"] is False
    env = compose["services"]["locust-master"]["environment"]
    assert env["LOCUST_CLASS_PICKER"] == "false"  # STORM_CLASS_PICKER=true turns it on
    assert options["locust-worker"]["user_classes"] == []


def test_locust_metrics_exporters_listen_beyond_loopback(parsed_locust: dict[str, Any]) -> None:
    # The exporter binds loopback by default: Prometheus in its own container could not scrape.
    exporting = {n: o for n, o in parsed_locust["options"].items() if o["prometheus_port"]}
    assert set(exporting) == {"locust-master", "headless"}  # workers report to the master
    for name, options in exporting.items():
        assert options["prometheus_host"] == "0.0.0.0", name


def test_bind_mounted_repo_paths_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for host, _ in bind_mounts(service):
            assert (REPO / host).exists(), f"{name}: {host} does not exist"


def test_prometheus_targets_are_compose_services(services: dict[str, dict[str, Any]]) -> None:
    config = yaml.safe_load(ph.PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    assert config["global"]["scrape_interval"] == "1s"
    variants: dict[str, str] = {}
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host = target.rsplit(":", 1)[0]
                assert host in services or host == "localhost", f"unknown target {target}"
                if "variant" in static.get("labels", {}):
                    variants[host] = static["labels"]["variant"]
    # The dashboard's $variant is this target label: it must match each server's waiter.
    assert variants == SERVERS


def test_grafana_is_provisioned(services: dict[str, dict[str, Any]]) -> None:
    grafana = services["grafana"]
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    home = host_path_for(grafana, env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home == ph.DASHBOARD_DIR / "waiter-comparison.json" and home.is_file()
    provisioning = host_path_for(grafana, env["GF_PATHS_PROVISIONING"])
    assert provisioning == GRAFANA_PROVISIONING

    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["url"] == "http://prometheus:9090" and "prometheus" in services
    providers = yaml.safe_load((provisioning / "dashboards" / "stampede.yml").read_text())
    for provider in providers["providers"]:
        assert host_path_for(grafana, provider["options"]["path"]) == ph.DASHBOARD_DIR


# --- Dockerfile -----------------------------------------------------------------------------------
def test_every_service_is_unprivileged(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert service.get("cap_drop") == ["ALL"], name
        assert not service.get("cap_add") and not service.get("privileged"), name


def test_grafana_is_current_and_needs_an_admin_password(
    raw_compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    grafana = services["grafana"]
    image, _, tag = grafana["image"].partition(":")
    assert image == "grafana/grafana", "grafana-oss is no longer published from 12.4 on"
    version = tuple(int(part) for part in re.match(r"(\d+)\.(\d+)\.(\d+)$", tag).groups())  # type: ignore[union-attr]
    assert version > GRAFANA_FIXED_AFTER, f"{tag} predates the CVE-2025-4123/-6023 fixes"
    env = grafana["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == ADMIN_PASSWORD  # from the environment
    with pytest.raises(AssertionError, match=ADMIN_PASSWORD_VAR):
        interpolate(raw_compose, env={})  # required: no admin/admin fallback
    with pytest.raises(AssertionError, match=ADMIN_PASSWORD_VAR):
        interpolate(raw_compose, env={ADMIN_PASSWORD_VAR: ""})


def test_anonymous_grafana_is_read_only(services: dict[str, dict[str, Any]]) -> None:
    env = services["grafana"]["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    for switch in ("GF_USERS_ALLOW_SIGN_UP", "GF_USERS_VIEWERS_CAN_EDIT", "GF_SNAPSHOTS_ENABLED",
                   "GF_PUBLIC_DASHBOARDS_ENABLED"):  # fmt: skip
        assert env[switch] == "false", switch
    # The one dashboard it may see is provisioned and cannot be changed from the UI.
    providers = yaml.safe_load((GRAFANA_PROVISIONING / "dashboards" / "stampede.yml").read_text())
    for provider in providers["providers"]:
        assert provider["allowUiUpdates"] is False and provider["disableDeletion"] is True
    assert ph.dashboard_paths() == [ph.DASHBOARD_DIR / "waiter-comparison.json"]


def test_dotenv_is_ignored_by_git() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", ".env"], cwd=REPO, capture_output=True, timeout=30
    )
    assert ignored.returncode == 0, ".env (where the admin password goes) is not git-ignored"


def test_storm_may_reach_its_own_servers_only(
    parsed_locust: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    servers = {name for name in services if name.startswith("server-")}
    for name in ("locust-master", "headless"):
        options = parsed_locust["options"][name]
        allowed = set(options["allow_remote"].split(","))
        # Exactly the compose servers: not a bare --allow-remote (any host), nothing else.
        assert allowed == servers, name
        hosts = {url.split("//")[1].split(":")[0] for url in re.findall(
            r"=(http://[^,]+)", options["targets"])}  # fmt: skip
        assert hosts and hosts <= allowed, name
    # Workers take their options, --allow-remote included, from the master.
    assert not parsed_locust["options"]["locust-worker"]["allow_remote"]
    # The servers listen on their container's interface (published on 127.0.0.1 only), which
    # `serve` allows with --allow-remote, given here as its environment variable.
    for name in servers:
        assert services[name]["environment"]["STAMPEDE_ALLOW_REMOTE"] == "true", name


def test_healthchecks_have_no_spaces_in_their_arguments(
    services: dict[str, dict[str, Any]],
) -> None:
    # podman's Docker-compatible API splits healthcheck arguments at spaces (podman#26519).
    checked = 0
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test")
        if not test:
            continue
        checked += 1
        assert test[0] == "CMD" and test[1:3] == ["stampede", "healthcheck"], (name, test)
        assert not any(" " in arg for arg in test), (name, test)
    assert checked >= 4  # three servers and the Locust master


def test_offline_overlay_only_moves_grafana_into_a_profile() -> None:
    overlay = yaml.safe_load((REPO / "compose.offline.yml").read_text(encoding="utf-8"))
    assert overlay == {"services": {"grafana": {"profiles": ["grafana"]}}}


def test_images_are_overridable_with_todays_defaults(raw_compose: dict[str, Any]) -> None:
    services = raw_compose["services"]
    assert services["prometheus"]["image"] == "${PROMETHEUS_IMAGE:-prom/prometheus:v2.55.1}"
    assert services["grafana"]["image"].startswith("${GRAFANA_IMAGE:-grafana/grafana:")
    build = services["server-to-thread"]["build"]
    assert build["args"]["PYTHON_IMAGE"] == "${PYTHON_IMAGE:-python:3.13-slim-bookworm}"


def test_the_runtime_hazard_panels_are_among_the_live_checked_queries() -> None:
    # test_prometheus_live.py evaluates every server-side query on a live Prometheus; these
    # are the loop-block, spin and state-leak panels' metrics, which must be among them.
    checked = {m for q in ph.all_queries() if not q.client_side for m in q.metrics}
    for metric in (
        "stampede_event_loop_lag_seconds_sum",
        "stampede_event_loop_thread_cpu_seconds_total",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "stampede_event_loop_tasks",
    ):
        assert metric in checked, metric
