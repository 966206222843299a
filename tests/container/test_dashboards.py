"""Static checks of what Prometheus and Grafana load, no engine needed: promtool on the config,
every dashboard query valid PromQL, panels on provisioned datasources, and metric names from
the server's contract."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.container import prom_helpers as ph

REPO = ph.REPO
DOCKERFILE = REPO / "Dockerfile"
GRAFANA_PROVISIONING = ph.DASHBOARD_DIR / "provisioning"


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
