"""The harness's scenario registry is read from the hazard registry, users included."""

from __future__ import annotations

import subprocess
import sys

import pytest
from stampede.loadtest.storm.runner import LOCUSTFILE
from stampede.loadtest.storm.scenarios import ALL, SCENARIOS, resolve
from stampede.loadtest.storm.scenarios.scenario import for_hazard
from stampede.server.hazards import HAZARDS
from stampede.server.hazards.spec import HazardSpec, load


def test_one_scenario_per_hazard_in_registry_order() -> None:
    assert list(SCENARIOS) == [spec.name for spec in HAZARDS]
    assert [s.name for s in resolve(ALL)] == [spec.name for spec in HAZARDS]


@pytest.mark.parametrize("spec", HAZARDS, ids=lambda s: s.name)
def test_variants_are_the_hazards_own_implementations(spec: HazardSpec) -> None:
    scenario = SCENARIOS[spec.name]
    assert scenario is load(spec.scenario)
    assert scenario.variants == {impl: {spec.setting: impl} for impl in spec.impls}
    assert scenario.user_classes == [spec.user_class]


def test_locustfile_exposes_every_registered_user() -> None:
    # Locust's own discovery, in its own process (importing locust here would gevent-patch
    # the test process).
    listed = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    users = listed.stdout.split("Available Users:", 1)[1].split()
    assert users == [spec.user_class for spec in HAZARDS]


def test_for_hazard_follows_the_spec() -> None:
    spec = HazardSpec(
        name="demo",
        setting="demo_impl",
        impls=("buggy", "fix_a", "fix_b"),
        user="pkg.users:DemoUser",
        scenario="pkg.scenarios:DEMO",
        help="what demo runs",
        sdk_impls={"real": "pkg.sdk:real"},
    )
    scenario = for_hazard(spec, "a demo", locust_args={"rate": "1"})
    assert scenario.name == "demo" and scenario.locust_args == {"rate": "1"}
    assert list(scenario.variants) == ["buggy", "fix_a", "fix_b"]  # SDK ones run with --sdk
    assert scenario.user_classes == ["DemoUser"]
