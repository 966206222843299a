"""The verdict for the user's own servers, in plain words, each claim with its evidence.

One primary state per target (loadtest/verdict/state.py decides it), then its claims. The
evidence levels of the wedge claim:

- exact: the server serves Stampede's metrics (stampede.probe installed), and a wedge is
  exact only when the probe's own wedge flag was raised.
- stacks: it stalled (requests in flight, none succeeding) and py-spy showed what the workers
  of every thread pool were doing; every worker of one pool parked is a wedge.
- stall: it stalled and nothing could look inside (a URL target, or py-spy could not attach,
  which is said): stalled, never wedged; or it never stalled, so it kept making progress.
Loop errors are exact with the probe, else read from the server's stderr. Leaked tasks need
the probe: without it they are unknown, and the verdict says so rather than guess.
"""

from __future__ import annotations

from typing import Any

from stampede.loadtest.verdict.state import target_state, verdict_lines

TARGET_KINDS = ("command", "url")


def is_target(variant: dict[str, Any]) -> bool:
    return (variant.get("target") or {}).get("kind") in TARGET_KINDS


def parked_stacks(variants: dict[str, dict[str, Any]]) -> list[tuple[str, int, str]]:
    """For each wedged target with stacks: (name, parked threads, the first one's stack)."""
    out = []
    for name, v in variants.items():
        threads = v.get("parked_threads") or []
        if v.get("wedged") and threads:
            first = threads[0]
            top = f" at {first['top_frame']}" if first.get("top_frame") else ""
            stack = " <- ".join(first["frames"][:6])
            out.append((name, len(threads), f"{first['name']}{top}: {stack}"))
    return out


def target_description(variants: dict[str, dict[str, Any]], users: list[str]) -> str:
    """The report's opening line for a run against the user's own servers ("" otherwise)."""
    described = []
    for name, v in variants.items():
        target = v.get("target") or {}
        if target.get("kind") in TARGET_KINDS:
            what = target.get("command") or target.get("url")
            described.append(f"{name} ({target['kind']}: {what})")
    if not described:
        return ""
    return (
        f"Your own servers under the same seeded storm ({', '.join(users)}): "
        + "; ".join(described)
        + "."
    )


def target_verdict(variants: dict[str, dict[str, Any]]) -> list[str]:
    """Each target's state first, then every claim behind it (loadtest/verdict/state.py)."""
    return [line for name, v in variants.items() for line in verdict_lines(name, v)]


def add_states(variants: dict[str, dict[str, Any]]) -> None:
    """summary.json's `state` block on every target variant."""
    for v in variants.values():
        if is_target(v):
            v["state"] = target_state(v).as_dict()
