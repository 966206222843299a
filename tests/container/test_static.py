"""Static checks of the container stack, no Docker engine needed: the compose file against the
Compose Specification schema, the Dockerfile with hadolint, the Prometheus config with
promtool, and the Grafana dashboards against the server's metric-name contract."""

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


# --- compose helpers ------------------------------------------------------------------------------
_INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$(\w+)")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose-style ${VAR:-default} interpolation of every string value (not keys), as
    `docker compose config` does before it validates against the schema."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def fill(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3) or ""
        current = env.get(name)
        unset = current is None or (op is not None and op.startswith(":") and current == "")
        if op in ("?", ":?") and unset:
            raise AssertionError(f"${{{name}}} is required: {arg}")
        if op in ("-", ":-") and unset:
            return arg
        return current or ""

    return _INTERPOLATION.sub(fill, value)


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
def test_promtool_check_config() -> None:
    promtool = ph.require_tool("promtool")
    result = subprocess.run(
        [promtool, "check", "config", str(ph.PROMETHEUS_CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    # promtool parses every expression as a recording rule, for both variants.
    rules = [
        {"record": f"dashboard:query_{i}", "expr": ph.substitute(q.expr, variant)}
        for i, (q, variant) in enumerate((q, v) for q in ph.all_queries() for v in ph.VARIANTS)
    ]
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [ph.require_tool("promtool"), "check", "rules", str(rules_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- dashboards -----------------------------------------------------------------------------------
DASHBOARDS = ph.dashboard_paths()


def test_there_is_a_comparison_dashboard() -> None:
    assert ph.DASHBOARD_DIR / "waiter-comparison.json" in DASHBOARDS


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_panels(path: Path) -> None:
    dashboard = ph.load_dashboard(path)  # raises on invalid JSON
    panels = list(ph.iter_panels(dashboard))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {path.name}"
    provisioned = provisioned_datasource_uids()
    for panel in panels:
        label = f"{path.name} panel {panel['id']} {panel.get('title')!r}"
        if panel["type"] == "row":  # a layout container: no queries, nothing to draw
            assert not panel.get("targets"), label
            continue
        assert panel.get("datasource", {}).get("uid") in provisioned, f"{label}: datasource"
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{label}: unit"
        assert panel.get("targets"), f"{label}: no queries"
        for target in panel["targets"]:
            assert target.get("datasource", {}).get("uid") in provisioned, f"{label}: target"
            assert target.get("expr"), f"{label}: empty query"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_metric_names_are_in_the_contract(path: Path) -> None:
    for query in ph.dashboard_queries(path):
        metrics = query.metrics
        assert metrics, f"{query.where}: no metric found in {query.expr!r}"
        unknown = metrics - ph.ALLOWED_NAMES
        assert not unknown, f"{query.where}: not in the metric contract: {sorted(unknown)}"
        # Server metrics have no variant label of their own: without the target-label filter
        # a panel would mix both variants.
        if metrics - {"stampede_client_users"}:
            assert 'variant=~"$variant"' in query.expr, f"{query.where}: no $variant filter"


def test_comparison_dashboard_covers_the_issue() -> None:
    path = ph.DASHBOARD_DIR / "waiter-comparison.json"
    dashboard = ph.load_dashboard(path)
    used = set().union(*(q.metrics for q in ph.dashboard_queries(path)))
    wanted = {
        "stampede_process_threads",
        "stampede_executor_busy_workers",
        "stampede_executor_max_workers",
        "stampede_executor_queued_items",
        "stampede_event_loop_tasks",
        "stampede_event_loop_lag_seconds_bucket",
        "stampede_invocations_total",
        "stampede_invocation_duration_seconds_bucket",
        "stampede_model_calls_total",
        "stampede_wedged",
        "stampede_loop_errors_total",
        "process_resident_memory_bytes",
        "stampede_client_requests_total",
        "stampede_client_request_duration_seconds_bucket",
    }
    assert wanted <= used, f"panels missing for {sorted(wanted - used)}"

    (variant,) = [v for v in dashboard["templating"]["list"] if v["name"] == "variant"]
    assert variant["multi"] and variant["includeAll"]
    annotations = [q for q in ph.dashboard_queries(path) if q.annotation]
    assert any("stampede_wedged" in q.metrics for q in annotations)

    # The parked-threads panel draws the executor size as its reference line.
    parked = [
        p
        for p in ph.iter_panels(dashboard)
        if any('kind="waiter"' in t.get("expr", "") for t in p.get("targets", []))
    ]
    assert parked, "no threads-parked-by-waiters panel"
    assert any("stampede_executor_max_workers" in t["expr"] for t in parked[0]["targets"])


def provisioned_datasource_uids() -> set[str]:
    config = yaml.safe_load(
        (GRAFANA_PROVISIONING / "datasources" / "prometheus.yml").read_text(encoding="utf-8")
    )
    return {source["uid"] for source in config["datasources"]}


# --- hardening ------------------------------------------------------------------------------------
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
