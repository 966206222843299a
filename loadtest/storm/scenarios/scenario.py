"""What `stampede compare --scenario NAME` storms and how it reads the result: `Scenario`.

A scenario names the variants to compare (variant -> server setting overrides, passed to
`stampede serve` as flags), the Locust user classes that make the load, extra Locust arguments,
and optionally hooks that add per-variant summary fields and verdict lines, and figures drawn
after the standard ones (shown next to the verdict in the report). A hazard's scenario is built
from its registered spec with `for_hazard`, so its variants are the hazard's implementations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stampede.loadtest.verdict.figures import Figure
from stampede.server.hazards.spec import HazardSpec

# (variant record, its summary so far) -> extra summary fields for that variant
SummaryHook = Callable[[Any, dict[str, Any]], dict[str, Any]]
# {variant: summary} -> plain-words verdict sentences
VerdictHook = Callable[[dict[str, dict[str, Any]]], list[str]]
# the run's summary -> the scenario's own report sections (loadtest/report/document.py blocks),
# shown after the verdict; typed loosely, as the report package reads scenarios' results
SectionsHook = Callable[[dict[str, Any]], list[Any]]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    variants: dict[str, dict[str, str]]  # variant -> server settings overrides
    user_classes: list[str]  # Locust user class names in loadtest/storm/locustfile.py
    server_settings: dict[str, str] = field(default_factory=dict)  # for every variant
    locust_args: dict[str, str] = field(default_factory=dict)  # extra custom arguments
    summary_hooks: list[SummaryHook] = field(default_factory=list)
    verdict: VerdictHook | None = None
    figures: tuple[Figure, ...] = ()  # the scenario's own plots, after the standard ones
    sections: SectionsHook | None = None
    # Readings beyond the standard ones, for hazards that only show there: a cheap request
    # timed beside the storm (its path; a --target's health path replaces it), and an idle
    # phase of this many seconds after the storm with nothing in flight. ping_overlap: checks
    # sent at a fixed cadence without waiting for the previous one (responsiveness.py), so a
    # route that stops answering still gets checks sent while it does not.
    ping_path: str | None = None
    ping_overlap: bool = False
    idle_s: float = 0.0
    # The scenario's own verdict also judges --target servers (its detector reads no
    # internals of Stampede's server), after the generic target lines.
    verdict_on_targets: bool = False


def for_hazard(spec: HazardSpec, description: str, **extra: Any) -> Scenario:
    """The scenario of a registered hazard: one variant per implementation of its own (the SDK
    ones run with `compare --sdk`), loaded by the hazard's Locust user."""
    variants = {impl: {spec.setting: impl} for impl in spec.impls}
    return Scenario(spec.name, description, variants, [spec.user_class], **extra)
