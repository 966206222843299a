"""Is a capacity slot leaking? The decisions of the slot-release detector, pure.

A server that takes a slot per request and forgets to give it back when the request is
cancelled (litellm #27955) refuses more and more of a constant offered load, and in the end
refuses (429/503) with nothing in flight at all. Two readings, both counted:

- the clients' (black box, evidence `clients`): rejections that came back while the Locust
  process had no other request in flight, and goodput (answers per second) in the last third
  of the storm against the first third, under the same paced load;
- the probe's (`exact`): sample intervals in which requests were rejected while the server's
  own `stampede_http_requests_in_flight` said it was serving nothing (the scrape excluded).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MIN_IDLE_REJECTIONS = 3  # rejections with nothing in flight before calling it a leak
DECAY_FLAG = 0.5  # goodput lost between the first and the last third, with rejections
MIN_REJECTIONS = 3
# How the storm (loadtest/storm/users/slot_release.py) names a rejection, by what else was in
# flight at the client when it came back.
IDLE_REJECT = "rejected, nothing else in flight"
BUSY_REJECT = "rejected, others in flight"


def rejections(by_name: Mapping[str, Mapping[str, Any]], idle: str, busy: str) -> dict[str, int]:
    """Rejections the clients counted, split by what else was in flight."""
    count = {"idle": 0, "busy": 0}
    for name, row in by_name.items():
        if idle in name:
            count["idle"] += int(row.get("requests") or 0)
        elif busy in name:
            count["busy"] += int(row.get("requests") or 0)
    return {**count, "total": count["idle"] + count["busy"]}


def goodput_thirds(samples: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """Answers per second in the first and last third of the load, and the share lost."""
    rows = [
        (float(r["t_s"]), float(r["client_ok"]))
        for r in samples
        if isinstance(r.get("t_s"), int | float)
        and isinstance(r.get("client_ok"), int | float)
        and r.get("client_users")
    ]
    out: dict[str, float | None] = {"first_per_s": None, "last_per_s": None, "decay": None}
    if len(rows) < 6:
        return out
    third = len(rows) // 3
    first, last = rows[: third + 1], rows[-third - 1 :]

    def rate(part: list[tuple[float, float]]) -> float | None:
        dt = part[-1][0] - part[0][0]
        return (part[-1][1] - part[0][1]) / dt if dt > 0 else None

    a, b = rate(first), rate(last)
    out.update(first_per_s=_round(a), last_per_s=_round(b))
    if a and b is not None and a > 0:
        out["decay"] = round(max(0.0, 1 - b / a), 3)
    return out


def idle_rejection_intervals(samples: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Sample intervals with new client failures while the server reported nothing in flight."""
    read = [r for r in samples if isinstance(r.get("http_in_flight"), int | float)]
    idle = sum(
        1
        for r in read
        if (r.get("client_failures_per_s") or 0) > 0 and int(r["http_in_flight"]) <= 0
    )
    return {"samples_read": len(read), "idle_intervals": idle}


def slot_finding(
    rejected: Mapping[str, int], goodput: Mapping[str, Any], exact: Mapping[str, int], probed: bool
) -> dict[str, Any]:
    """ "leaking", "clean" or "inconclusive", the evidence, and the figures it rests on."""
    figures = {**rejected, **goodput, **exact}
    if probed and exact.get("samples_read"):
        leaking = exact["idle_intervals"] >= MIN_IDLE_REJECTIONS
        return {"finding": "leaking" if leaking else "clean", "evidence": "exact", **figures}
    decay = goodput.get("decay")
    if rejected["total"] == 0 and goodput.get("first_per_s") is None:
        return {"finding": "inconclusive", "evidence": None, **figures}
    leaking = rejected["idle"] >= MIN_IDLE_REJECTIONS or (
        rejected["total"] >= MIN_REJECTIONS and isinstance(decay, float) and decay >= DECAY_FLAG
    )
    return {"finding": "leaking" if leaking else "clean", "evidence": "clients", **figures}


def slot_line(name: str, f: Mapping[str, Any]) -> str:
    decay = f.get("decay")
    goodput = (
        f"goodput {_fmt(f.get('first_per_s'))}/s in the first third, "
        f"{_fmt(f.get('last_per_s'))}/s in the last"
        + (f" ({decay:.0%} lost)" if isinstance(decay, float) else "")
    )
    rejected = (
        f"{f.get('total', 0)} rejections (429/503), {f.get('idle', 0)} with nothing else in "
        "flight at the client"
    )
    if f.get("finding") == "inconclusive":
        return f"{name}: capacity slots inconclusive (no answers and no rejections)"
    word = "LEAKING capacity slots" if f.get("finding") == "leaking" else "no slot leak"
    if f.get("evidence") == "exact":
        why = (
            f"evidence exact: {f.get('idle_intervals')} of {f.get('samples_read')} samples "
            "rejected while the server reported 0 requests in flight"
        )
    else:
        why = "evidence clients"
    return f"{name}: {word} ({why}; {rejected}; {goodput})"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:g}"
