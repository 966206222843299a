"""The evidence behind a variant's wedge claim: which detector saw it, and how sure it is.

Stampede's own server (and an SDK in it) carries the probe, so its wedge flag is `exact`; a
server Stampede did not write is judged by its black box (observe/blackbox.py), whose record
says what it saw. This turns either into the summary's `wedged`, `wedge_evidence`,
`parked_executor_threads` and `stacks_file` fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stampede.loadtest.observe.blackbox import BlackBox


def evidence_fields(record: Any, summary: dict[str, Any]) -> dict[str, Any]:
    """A variant's `target`, `wedged`, `wedge_evidence`, `parked_executor_threads` and
    `stacks_file` (and, for an unprobed target, loop errors from its stderr)."""
    target = record.target_info or {"kind": "builtin"}
    blackbox: BlackBox | None = record.blackbox
    peak_parked = _peak_parked(record.samples)
    if blackbox is None:  # Stampede's own server (or an SDK in it): the probe is built in
        started = bool(record.samples) and not summary.get("error")
        return {
            "target": target,
            "wedged": bool(summary.get("wedged")) if started else None,
            "wedge_evidence": "exact" if started else None,
            "parked_executor_threads": peak_parked,
            "stacks_file": None,
        }
    ok = (summary.get("requests") or {}).get("ok")
    ok = ok if isinstance(ok, int) else 0
    # The probe's own final word only: summary["wedged"] also holds the stacks' wedge.
    status_wedged = record.status.get("wedged") if isinstance(record.status, dict) else None
    fields = blackbox.summary(
        None if status_wedged is None else bool(status_wedged), peak_parked, ok
    )
    if summary.get("error") and not record.samples:
        fields.update(wedged=None, wedge_evidence=None)
    out = {"target": target, **fields}
    out["stalled"] = bool(summary.get("stalled")) or blackbox.stalled_at_s is not None
    if out["stalled"] and summary.get("stalled_at_s") is None:
        out["stalled_at_s"] = blackbox.stalled_at_s
    if "loop_errors" not in fields:
        out.pop("loop_errors", None)
    return out


def _peak_parked(samples: list[dict[str, Any]]) -> int | None:
    values = [r.get("executor_parked") for r in samples]
    known = [int(v) for v in values if isinstance(v, int | float)]
    return max(known) if known else None
