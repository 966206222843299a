"""One primary state per target, in plain words, and every claim behind it with its evidence.

States, the first that holds wins (a wedge is a stall that is also a failure, so it leads):

- wedged: stalled, and every worker of a pool parked in a wait, seen by the probe's own
  wedge flag (evidence exact) or by py-spy's stacks (evidence stacks). Nothing else is a wedge;
- failing: under half the intents (else attempts) succeeded, whatever else holds;
- stalled: requests in flight and no success for the stall bound, with no wedge shown;
- leaking: asyncio tasks left after the clients were gone and the server drained (the probe),
  or threads, fds or RSS that grew with the load and were still held (verdict/resource_leak.py);
- erroring: loop errors (counted by the probe, or read from the target's stderr);
- serialized: answers came out one at a time while many waited (a staircase of completions);
- overloaded: a fifth or more of the attempts timed out, answers still coming;
- degraded: goodput fell against the baseline phase, or latency grew against the first third;
- healthy: none of those.

Evidence levels: exact (the probe), stacks (py-spy), stall (the clients' progress watch),
counts (the clients' own counts of intents and attempts), stderr (the target's stderr),
black-box (the process tree's figures, read with psutil).
Pure: a variant's summary in, a plain dict out (summary.json's `state`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from stampede.loadtest.verdict.leak import THRESHOLDS
from stampede.loadtest.verdict.resource_leak import leak_label, leak_texts
from stampede.loadtest.verdict.shape import (
    OVERLOADED_TIMEOUT_SHARE,
    degraded,
    serialized,
    timeout_share,
)

FAILING_BELOW = 0.5
LEAK_MIN_TASKS = 3
# ... and per 1,000 requests sent: the state_leak detector's bound, so the two never disagree
# (a fix that reaps idle sessions still holds the last few: 5 tasks after 2,879 sessions).
LEAK_TASKS_PER_1000 = THRESHOLDS["event_loop_tasks"]
STATES = (
    "wedged",
    "failing",
    "stalled",
    "leaking",
    "erroring",
    "serialized",
    "overloaded",
    "degraded",
    "healthy",
)


@dataclass(frozen=True)
class Claim:
    text: str
    evidence: str  # exact | stacks | stall | counts | stderr | black-box | none


@dataclass
class TargetState:
    state: str  # one of STATES, or "not run" / "unknown"
    label: str  # the state in words, e.g. "serialized: at most 1 answer in progress"
    evidence: str  # the evidence of the claim that decided the state
    success_ratio: float | None
    claims: list[Claim] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def success_ratio(v: dict[str, Any]) -> float | None:
    """Intents succeeded over intents counted; attempts ok over attempts without intents."""
    intents = v.get("intents") or {}
    ratio = intents.get("success_ratio")
    if isinstance(ratio, int | float) and intents.get("counted"):
        return float(ratio)
    requests = v.get("requests") or {}
    ok, failed = requests.get("ok"), requests.get("failed")
    if isinstance(ok, int) and isinstance(failed, int) and ok + failed:
        return round(ok / (ok + failed), 3)
    return None


def failure_text(kind: dict[str, Any]) -> str:
    """ "88% HTTP 500: ConcurrencyException ..." for one row of intents.failure_kinds."""
    share = kind.get("share")
    pct = f"{share * 100:.0f}% " if isinstance(share, int | float) else ""
    status = kind.get("status")
    name = str(kind.get("kind", "?"))
    what = f"HTTP {status}" if status else name.replace("_", " ")
    if status and name not in ("http_error", "ok"):
        what += f" {name.replace('_', ' ')}"
    sample = kind.get("sample")
    return f"{pct}{what}" + (f": {sample}" if sample else "")


def _success_claim(v: dict[str, Any], ratio: float | None) -> Claim:
    intents = v.get("intents") or {}
    if intents.get("counted"):
        head = (
            f"{intents.get('succeeded')} of {intents.get('counted')} intents succeeded"
            f" ({(ratio or 0) * 100:.1f}%)"
        )
    else:
        r = v.get("requests") or {}
        head = f"{r.get('ok', 0)} of {r.get('ok', 0) + r.get('failed', 0)} attempts succeeded"
    kinds = intents.get("failure_kinds") or []
    if kinds:
        head += "; attempts failed: " + "; ".join(failure_text(k) for k in kinds)
    return Claim(head, "counts")


def _pools_text(v: dict[str, Any]) -> str:
    pools = [p for p in v.get("pools") or [] if p.get("wedged")]
    parts = []
    for p in pools:
        frames = sorted({t for t in p.get("top_frames") or [] if t})
        where = f" at {', '.join(frames[:3])}" if frames else ""
        parts.append(f"all {p.get('workers')} worker(s) of {p.get('pool')} parked{where}")
    return "; ".join(parts)


def _probe_parked(v: dict[str, Any]) -> str:
    """What the probe saw parked: its executor's peak, other pools' and anyio's limiter."""
    parts = [f"peak {v.get('parked_executor_threads') or 0} default-executor worker(s) parked"]
    pools = v.get("peak_pool_parked")
    if isinstance(pools, int) and pools:
        parts.append(f"peak {pools} worker(s) of other pools parked")
    anyio = v.get("anyio_limiter") or {}
    if anyio.get("total") and (anyio.get("borrowed") or anyio.get("waiting")):
        parts.append(
            f"anyio tokens borrowed {anyio.get('borrowed')} of {anyio.get('total'):g}, "
            f"{anyio.get('waiting')} task(s) waiting for one"
        )
    return "; ".join(parts)


def _wedge_claim(v: dict[str, Any]) -> Claim:
    evidence = v.get("wedge_evidence") or "none"
    stall = v.get("stall_s")
    at = v.get("stalled_at_s")
    when = f" {at:.1f} s into the storm" if isinstance(at, int | float) else ""
    if v.get("wedged") and evidence == "exact":
        return Claim(f"wedged: the probe's wedge flag was raised ({_probe_parked(v)})", "exact")
    if v.get("wedged") and evidence == "stacks":
        pools = _pools_text(v) or f"all {v.get('parked_executor_threads')} worker(s) parked"
        return Claim(
            f"wedged: stalled{when} (no success for {stall:g} s with requests in flight), and "
            f"py-spy shows {pools}; stacks in {v.get('stacks_file')}",
            "stacks",
        )
    if v.get("stalled"):
        bound = f"no success for {stall:g} s with requests in flight" if stall else "stalled"
        stacks = f"py-spy shows no pool all parked (stacks in {v.get('stacks_file')})"
        if v.get("probed") and v.get("stacks_file"):
            seen = f"the probe saw no wedge, and {stacks}"
        elif v.get("probed"):
            seen = "the probe saw no wedge"
        elif v.get("stacks_file"):
            seen = stacks
        else:
            why = v.get("stacks_error") or "no process of ours to look into (a URL target)"
            seen = f"no stacks: {why}"
        return Claim(f"stalled{when} ({bound}); {seen}", "stall")
    if v.get("wedge_evidence") is None:
        return Claim("the storm never got going: nothing to say about progress", "none")
    successes = success_count(v)
    if successes:
        text = "no stall: successes kept coming"
        if stall:
            text += f" (never {stall:g} s without one while requests were in flight)"
        return Claim(text, "exact" if evidence == "exact" else "stall")
    return Claim(
        "no stall: attempts were answered, but none of them successfully",
        "exact" if evidence == "exact" else "stall",
    )


def success_count(v: dict[str, Any]) -> int:
    intents = v.get("intents") or {}
    if intents.get("counted"):
        return int(intents.get("succeeded") or 0)
    return int((v.get("requests") or {}).get("ok") or 0)


def _errors_claim(v: dict[str, Any]) -> Claim | None:
    target = v.get("target") or {}
    errors = {k: n for k, n in (v.get("loop_errors") or {}).items() if n}
    if v.get("probed"):
        source, evidence = "counted by the probe", "exact"
    elif target.get("kind") == "command":
        source, evidence = "read from its stderr", "stderr"
    elif target.get("kind") == "url":
        return Claim("loop errors unknown: a URL target has no stderr of ours to read", "none")
    else:
        source, evidence = "counted by the server", "exact"
    if errors:
        listed = ", ".join(f"{n} {kind}" for kind, n in sorted(errors.items()))
        return Claim(f"loop errors: {listed} ({source})", evidence)
    if v.get("ended") == "not started":
        return None
    return Claim(f"no loop errors ({source})", evidence)


def leaked(v: dict[str, Any]) -> int | None:
    """Tasks left after the drain beyond the requests still in flight at the storm's stop
    (each may hold a task while it finishes); None when unknown (no probe) or the drain never
    settled."""
    value = v.get("leaked_tasks")
    if not isinstance(value, int) or not v.get("probed", True):
        return None
    if v.get("leaked_tasks_settled") is False:
        return None
    if v.get("stuck_inflight") is None:  # a user's server: it does not count them itself
        value = max(0, value - int((v.get("intents") or {}).get("inflight_at_stop") or 0))
    return value


def tasks_per_1000(v: dict[str, Any], n: int) -> float | None:
    r = v.get("requests") or {}
    sent = int(r.get("ok") or 0) + int(r.get("failed") or 0)
    return n * 1000 / sent if sent else None


def tasks_leak(v: dict[str, Any], n: int | None) -> bool:
    rate = None if n is None else tasks_per_1000(v, n)
    return n is not None and n >= LEAK_MIN_TASKS and (rate is None or rate >= LEAK_TASKS_PER_1000)


def _leak_claims(v: dict[str, Any]) -> list[Claim]:
    claims = []
    inflight = (v.get("intents") or {}).get("inflight_at_stop")
    if isinstance(inflight, int) and inflight:
        claims.append(
            Claim(f"{inflight} request(s) still in flight when the storm stopped", "counts")
        )
    n = leaked(v)
    if v.get("leaked_tasks_settled") is False and isinstance(v.get("leaked_tasks"), int):
        claims.append(
            Claim(
                f"{v['leaked_tasks']} task(s) above the start still finishing when the drain "
                "wait ended: not counted as leaked",
                "exact",
            )
        )
    if n is not None:
        drained = "after the clients were gone and the server drained"
        if v.get("wedged"):
            claims.append(
                Claim(f"{n} more live task(s) at the end: stuck behind the wedge", "exact")
            )
        else:
            beyond = ""
            if v.get("stuck_inflight") is None and inflight:
                beyond = f", beyond the {inflight} request(s) in flight at the stop"
            rate = tasks_per_1000(v, n)
            if n >= LEAK_MIN_TASKS and rate is not None and not tasks_leak(v, n):
                beyond += (
                    f" ({rate:.1f} per 1,000 requests, under the {LEAK_TASKS_PER_1000:g} a leak "
                    "needs)"
                )
            claims.append(Claim(f"{n} task(s) left {drained}{beyond}", "exact"))
    elif (v.get("loop_errors") or {}).get("task_destroyed_pending"):
        claims.append(
            Claim("leaked tasks unknown without the probe (stderr: tasks destroyed)", "stderr")
        )
    resources = v.get("resources") or {}
    evidence = resources.get("evidence", "black-box")
    claims += [Claim(text, evidence) for text in leak_texts(resources)]
    return claims


def _shape_claim(v: dict[str, Any]) -> Claim:
    shape = (v.get("intents") or {}).get("completion_shape") or {}
    return Claim(
        f"answers came out one at a time: {shape.get('successes')} successes about "
        f"{shape.get('median_gap_s')} s apart (spread {shape.get('gap_spread')}, "
        f"{(shape.get('close_share') or 0) * 100:.0f}% of them together), while "
        f"{shape.get('mean_in_flight')} attempts were in flight on average",
        "counts",
    )


def target_state(v: dict[str, Any]) -> TargetState:
    if v.get("error"):
        return TargetState("not run", f"did not run: {v['error']}", "none", None)
    ratio = success_ratio(v)
    claims = [_success_claim(v, ratio), _wedge_claim(v)]
    if (errors := _errors_claim(v)) is not None:
        claims.append(errors)
    claims += _leak_claims(v)
    state, label, evidence, extra = _decide(v, ratio, claims)
    if extra is not None:
        claims.append(extra)
    return TargetState(state, label, evidence, ratio, claims)


def _decide(
    v: dict[str, Any], ratio: float | None, claims: list[Claim]
) -> tuple[str, str, str, Claim | None]:
    """(state, label, evidence, one more claim): the first state of STATES that holds."""
    wedge = claims[1]
    leak = leaked(v)
    errors_n = sum(n for n in (v.get("loop_errors") or {}).values() if isinstance(n, int))
    if v.get("wedged") and v.get("wedge_evidence") in ("exact", "stacks"):
        return "wedged", "wedged", wedge.evidence, None
    inflight = (v.get("intents") or {}).get("inflight_at_stop") or 0
    if ratio is None and inflight:
        # Sent, never answered: not a verdict of health (the storm may have been too short).
        why = Claim(
            f"no attempt was answered during the storm; {inflight} in flight at its end", "counts"
        )
        return "stalled", "stalled: no answer at all", "counts", why
    if wedge.evidence == "none" and ratio is None:
        return "unknown", "unknown: the storm never got going", "none", None
    if ratio is not None and ratio < FAILING_BELOW:
        return "failing", f"failing: {ratio * 100:.0f}% success", "counts", None
    if v.get("stalled"):
        label = "stalled; the probe saw no wedge" if v.get("probed") else "stalled, not wedged"
        return "stalled", label, wedge.evidence, None
    resources = v.get("resources") or {}
    tasks = tasks_leak(v, leak)
    if tasks or resources.get("leaking"):
        # Tasks are the probe's count (exact); threads, fds and RSS the process's.
        held = [f"{leak} task(s)"] if tasks else []
        if resources.get("leaking"):
            held.append(leak_label(resources).removesuffix(" left after draining"))
        evidence = "exact" if tasks else resources.get("evidence", "black-box")
        return "leaking", f"leaking: {', '.join(held)} left after draining", evidence, None
    if errors_n:
        evidence = claims[2].evidence if len(claims) > 2 else "stderr"
        return "erroring", f"erroring: {errors_n} loop error(s)", evidence, None
    if serialized(v):
        label = "serialized: at most 1 answer in progress"
        return "serialized", label, "counts", _shape_claim(v)
    if (share := timeout_share(v)) >= OVERLOADED_TIMEOUT_SHARE:
        return "overloaded", f"overloaded: {share * 100:.0f}% of attempts timed out", "counts", None
    if why := degraded(v):
        return "degraded", "degraded", "counts", Claim(why, "counts")
    return "healthy", "healthy", "counts", None


def verdict_lines(name: str, v: dict[str, Any]) -> list[str]:
    """The report's lines for one target: its state first, then each claim with its evidence."""
    s = target_state(v)
    if s.state == "not run":
        return [f"{name} {s.label}"]
    lines = [
        f"{name}: {s.label.upper() if s.state == 'wedged' else s.label} (evidence {s.evidence})"
    ]
    lines += [f"{name}: {c.text} (evidence {c.evidence})" for c in s.claims]
    if v.get("ended") == "wedged":
        lines.append(
            f"{name}: the variant ended early, {v.get('ran_s')} s in: a wedge with evidence "
            f"{v.get('wedge_evidence')} (only an exact or stacks wedge ends a variant early)"
        )
    return lines
