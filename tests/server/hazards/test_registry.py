"""The hazard registry: one spec per hazard folder, read by the settings and the app."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from stampede.server.hazards import BY_NAME, HAZARDS, IDEMPOTENCY, SESSION, STREAM
from stampede.server.hazards.build import build_hazards
from stampede.server.hazards.session.runners import RUNNERS
from stampede.server.hazards.spec import HazardSpec, load
from stampede.server.hazards.stream.query import QUERY_CLASSES
from stampede.server.settings import ServerSettings
from stampede.server.waiters import WAITERS


def _spec(**changes: object) -> HazardSpec:
    fields: dict[str, object] = {
        "name": "demo",
        "setting": "demo_impl",
        "impls": ("buggy", "fixed"),
        "user": "pkg.users:DemoUser",
        "scenario": "pkg.scenarios:DEMO",
        "help": "what demo runs",
    }
    return HazardSpec(**(fields | changes))  # type: ignore[arg-type]


def test_every_hazard_is_registered_once_in_compare_order() -> None:
    names = [spec.name for spec in HAZARDS]
    assert names == [
        "idempotency", "stream", "session", "loop_block", "spin", "state_leak",
        "thread_limiter", "slot_release", "shared_agent",
    ]  # fmt: skip
    assert set(BY_NAME) == {spec.name for spec in HAZARDS}


@pytest.mark.parametrize("spec", HAZARDS, ids=lambda s: s.name)
def test_settings_accept_exactly_the_registered_implementations(spec: HazardSpec) -> None:
    # The spec is the one list: the settings field takes every choice, defaults to the bug...
    assert ServerSettings.model_fields[spec.setting].default == spec.impls[0]
    for impl in spec.choices:
        assert getattr(ServerSettings(**{spec.setting: impl}), spec.setting) == impl
    # ...and refuses anything else, naming the field.
    with pytest.raises(ValidationError, match=spec.setting):
        ServerSettings(**{spec.setting: "no_such_impl"})


@pytest.mark.parametrize("spec", [s for s in HAZARDS if s.hazard], ids=lambda s: s.name)
def test_each_implementation_builds_the_hazard_that_runs_it(spec: HazardSpec) -> None:
    for impl in spec.impls:
        built = {h.name: h for h in build_hazards(ServerSettings(**{spec.setting: impl}))}
        status = built[spec.name].status()
        assert status["impl"] == impl and status["setting"] == spec.setting
        assert status["impls"] == list(spec.choices)


def test_app_mounts_one_hazard_per_spec_with_an_endpoint() -> None:
    names = [h.name for h in build_hazards(ServerSettings())]
    assert names == [s.name for s in HAZARDS if s.hazard]


@pytest.mark.parametrize("spec", HAZARDS, ids=lambda s: s.name)
def test_server_side_references_resolve(spec: HazardSpec) -> None:
    # Only the server's own refs: the user and scenario belong to the harness (tests/loadtest).
    for ref in filter(None, [spec.hazard, *spec.sdk_impls.values()]):
        assert callable(load(ref)), ref


def test_spec_defaults_and_names() -> None:
    spec = _spec(sdk_impls={"real": "pkg.sdk:real_hazard"})
    assert spec.choices == ("buggy", "fixed", "real")
    assert spec.default == "buggy" and spec.user_class == "DemoUser"
    assert spec.hazard_ref("buggy") is None and spec.hazard_ref("real") == "pkg.sdk:real_hazard"


@pytest.mark.parametrize(
    "changes",
    [
        {"impls": ()},
        {"user": "DemoUser"},  # no module
        {"scenario": "pkg.scenarios:"},  # no attribute
        {"hazard": "not a module:Hazard"},
        {"sdk_impls": {"buggy": "pkg.sdk:x"}},  # an SDK impl shadowing one of ours
    ],
)
def test_malformed_specs_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="demo"):
        _spec(**changes)


def test_each_registered_implementation_exists() -> None:
    # The spec names them; each folder's implementation table must hold exactly those.
    assert tuple(WAITERS) == IDEMPOTENCY.impls
    assert tuple(QUERY_CLASSES) == STREAM.impls
    assert tuple(RUNNERS) == SESSION.impls
