"""The verdict for the user's own servers, in plain words, each claim with its evidence.

- exact: the server serves Stampede's metrics (stampede.probe installed): its own executor
  and loop said so.
- stacks: it stalled (requests in flight, none succeeding) and py-spy showed what every
  default-executor worker was doing.
- stall: it stalled and nothing could look inside (a URL target, or py-spy could not attach,
  which is said); or it never stalled, so it kept making progress.
Loop errors are exact with the probe, else read from the server's stderr. Leaked tasks need
the probe: without it they are unknown, and the verdict says so rather than guess.
"""

from __future__ import annotations

from typing import Any

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
            out.append(
                (name, len(threads), f"{first['name']}: " + " <- ".join(first["frames"][:6]))
            )
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
    return [line for name, v in variants.items() for line in _lines(name, v)]


def _lines(name: str, v: dict[str, Any]) -> list[str]:
    if v.get("error"):
        return [f"{name} did not run: {v['error']}"]
    evidence = v.get("wedge_evidence")
    lines = [f"{name}: {_wedge(v, evidence)}"]
    errors = {k: n for k, n in (v.get("loop_errors") or {}).items() if n}
    source = "counted by the probe" if evidence == "exact" else "read from its stderr"
    if errors:
        listed = ", ".join(f"{n} {kind}" for kind, n in sorted(errors.items()))
        lines.append(f"{name}: loop errors {listed} ({source})")
    elif v.get("ended") != "not started":
        lines.append(f"{name}: no loop errors ({source})")
    leaked = v.get("leaked_tasks")
    if evidence == "exact" and isinstance(leaked, int) and v.get("wedged"):
        lines.append(f"{name}: {leaked} more live task(s) at the end: requests stuck behind it")
    elif evidence == "exact" and isinstance(leaked, int):
        lines.append(f"{name}: {leaked} task(s) leaked (live tasks at the end minus at the start)")
    elif errors.get("task_destroyed_pending"):
        lines.append(f"{name}: leaked tasks unknown without the probe (stderr: tasks destroyed)")
    return lines


def _wedge(v: dict[str, Any], evidence: str | None) -> str:
    stall = v.get("stall_s")
    at = v.get("stalled_at_s")
    when = f" {at:.1f} s into the storm" if isinstance(at, int | float) else ""
    parked = v.get("parked_executor_threads")
    if evidence == "exact":
        state = "WEDGED" if v.get("wedged") else "not wedged"
        return (
            f"{state} (evidence exact: the probe's wedge detector; peak {parked} executor "
            f"worker(s) parked in a wait)"
        )
    if evidence == "stacks":
        stacks = v.get("stacks_file")
        if v.get("wedged"):
            return (
                f"WEDGED (evidence stacks: stalled{when}, no success for {stall:g} s with "
                f"requests in flight, and py-spy shows all {parked} worker(s) of a pool (the "
                f"default executor or anyio's worker threads) parked in a wait; stacks in "
                f"{stacks})"
            )
        return (
            f"stalled{when} but not wedged (evidence stacks: py-spy shows default-executor "
            f"workers working, {parked} parked; stacks in {stacks}): overloaded, not stuck"
        )
    if evidence == "stall":
        if not v.get("wedged"):
            return (
                f"not wedged (evidence stall: successes kept coming; never {stall:g} s without "
                f"one while requests were in flight)"
            )
        why = v.get("stacks_error") or "no process of ours to look into (a URL target)"
        return (
            f"WEDGED by the stall rule only (evidence stall: no success for {stall:g} s with "
            f"requests in flight{when}; no stacks: {why})"
        )
    return "unknown (the storm never got going)"
