"""What one hazard registers: its implementations, its server class, its Locust user and scenario.

Each hazard folder (server/hazards/<name>/) declares one `HazardSpec` in its `__init__.py`, and
the registry (server/hazards/__init__.py) lists them. A spec is plain data: the server class,
the Locust user and the harness's scenario are "module:attr" strings (as `uvicorn app:app`
names an app), so the server layer never imports the harness and the registry imports nothing
heavy. `load()` resolves such a string when its object is needed.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class HazardSpec:
    """One hazard, as the server's settings, the app, Locust and `stampede compare` see it."""

    name: str  # the `/v1/status` key and the `compare --scenario` name
    setting: str  # the ServerSettings field (and `serve` flag) that picks the implementation
    impls: tuple[str, ...]  # Stampede's own implementations: the buggy one first, then fixes
    user: str  # "module:Class" of the Locust user that triggers it
    scenario: str  # "module:attr" of the harness's Scenario for `stampede compare`
    help: str  # what the setting picks, for the `serve` flag's help
    # "module:attr" of a callable ServerSettings -> Hazard (a class, usually) that mounts the
    # endpoint; None when the app's core serves it (the idempotency hazard's invocations).
    hazard: str | None = None
    # Implementations served by a real SDK release (an optional dependency): impl -> "module:attr"
    # of the callable that builds the hazard for it. Selectable, not in compare's default variants.
    sdk_impls: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        refs = [self.user, self.scenario, *self.sdk_impls.values()]
        if self.hazard is not None:
            refs.append(self.hazard)
        bad = [ref for ref in refs if not _is_ref(ref)]
        if not self.impls or bad or set(self.impls) & set(self.sdk_impls):
            raise ValueError(f"hazard {self.name!r}: needs impls and module:attr refs, got {bad}")

    @property
    def choices(self) -> tuple[str, ...]:
        """Every value the setting accepts: Stampede's implementations, then the SDK ones."""
        return (*self.impls, *self.sdk_impls)

    @property
    def default(self) -> str:
        """The buggy implementation: a server started without the flag shows the hazard."""
        return self.impls[0]

    @property
    def user_class(self) -> str:
        """The Locust user's class name, as picked on Locust's command line."""
        return self.user.rpartition(":")[2]

    def hazard_ref(self, impl: str) -> str | None:
        """Which callable builds the hazard when the setting is `impl`."""
        return self.sdk_impls.get(impl, self.hazard)


def _is_ref(ref: str) -> bool:
    module, _, attr = ref.partition(":")
    return bool(module and attr and all(part.isidentifier() for part in module.split(".")))


def load(ref: str) -> Any:
    """The object a "module:attr" string names (attr may be dotted)."""
    module_name, _, attr = ref.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    return target
