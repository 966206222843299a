"""Scenario registry: what `stampede compare --scenario NAME` can run, one per registered hazard.

Reads the hazard registry (server/hazards/__init__.py) and loads each hazard's scenario from the
"module:attr" its spec names (the modules beside this one), in the registry's order;
`--scenario all` runs every one. `register()` adds a scenario that is not a hazard's.
"""

from __future__ import annotations

from stampede.loadtest.storm.scenarios.scenario import Scenario, SummaryHook, VerdictHook
from stampede.server.hazards import HAZARDS
from stampede.server.hazards.spec import load

ALL = "all"

SCENARIOS: dict[str, Scenario] = {}


def register(scenario: Scenario) -> Scenario:
    if scenario.name == ALL or not scenario.variants or not scenario.user_classes:
        raise ValueError(f"scenario {scenario.name!r} needs a name, variants and user classes")
    SCENARIOS[scenario.name] = scenario
    return scenario


def _hazard_scenario(ref: str, name: str) -> Scenario:
    scenario = load(ref)
    if not isinstance(scenario, Scenario) or scenario.name != name:
        raise TypeError(f"hazard {name!r}: {ref} is not the Scenario named {name!r}")
    return scenario


for _spec in HAZARDS:
    register(_hazard_scenario(_spec.scenario, _spec.name))


def resolve(name: str) -> list[Scenario]:
    """The scenarios `--scenario name` runs (`all`, one name or a comma list, in its order);
    ValueError naming the value if unknown or repeated."""
    if name == ALL:
        return list(SCENARIOS.values())
    names = name.split(",")
    for one in names:
        if one not in SCENARIOS:
            known = ", ".join([*SCENARIOS, ALL])
            raise ValueError(f"unknown scenario {one!r} (known: {known})")
    if len(set(names)) != len(names):
        raise ValueError(f"--scenario {name!r}: a scenario is named twice")
    return [SCENARIOS[one] for one in names]


__all__ = ["ALL", "SCENARIOS", "Scenario", "SummaryHook", "VerdictHook", "register", "resolve"]
