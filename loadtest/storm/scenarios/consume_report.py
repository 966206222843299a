"""How `stampede compare` reads a stream served by a real claude-agent-sdk, pattern by pattern.

A `--stream-impl claude-agent-sdk` server counts each consumption pattern on its own
(server/hazards/stream/consume.py): streams, dropped streams, and per dropped stream the
cancel-scope reports traced to it, the consumers a leaked scope cancelled and the ASGI errors.
`consume_summary` copies those from the variant's final `/v1/status` into summary.json
(`sdk`, `consume`), and makes the hazard's triggers the dropped streams; `consume_verdict`
adds one line per release naming the patterns that flag it; `consume_sections` is the
report's table of every release and pattern, with what each pattern does and why it can or
cannot trigger the bug. Variants of Stampede's own implementations have no patterns: the
hooks add nothing for them.
"""

from __future__ import annotations

from typing import Any

from stampede.loadtest.report.document import Block, BulletList, Heading, Paragraph, Table
from stampede.server.hazards.stream.consume import CONSUME_PATTERNS, DESCRIPTIONS

COUNTED = ("cancel_scope", "consumer_cancelled", "asgi_errors")
WORDS = {
    "cancel_scope": "cancel-scope reports",
    "consumer_cancelled": "consumers cancelled",
    "asgi_errors": "ASGI errors",
}


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


def _pattern_block(counts: dict[str, Any]) -> dict[str, Any]:
    dropped = _int(counts.get("dropped"))
    found = {key: _int(counts.get(key)) for key in COUNTED}
    rates = {k: round(v / dropped, 3) if dropped else None for k, v in found.items()}
    flagged = any(found.values())
    return {
        "streams": _int(counts.get("started")),
        "completed": _int(counts.get("completed")),
        "dropped": dropped,
        **found,
        "per_dropped_stream": rates,
        "asgi_error_texts": counts.get("asgi_error_texts") or {},
        "result": "flagged" if flagged else "clean" if dropped else "inconclusive",
    }


def consume_summary(record: Any, summary: dict[str, Any]) -> dict[str, Any]:
    """Summary hook: the `sdk` and per-pattern `consume` blocks of an SDK-served variant."""
    stream = (record.status.get("hazards") or {}).get("stream") or {}
    counts = stream.get("patterns")
    if not isinstance(counts, dict):
        return {}
    patterns = {name: _pattern_block(c) for name, c in counts.items() if _int(c.get("started")) > 0}
    extra: dict[str, Any] = {
        "sdk": stream.get("sdk"),
        "consume": {"break_after": stream.get("break_after"), "patterns": patterns},
    }
    if summary.get("hazard"):  # the trigger is a dropped stream, as the server counted it
        hazard = dict(summary["hazard"])
        dropped = sum(p["dropped"] for p in patterns.values())
        errors = _int(hazard.get("errors"))
        hazard["triggers"] = dropped
        hazard["errors_per_trigger"] = round(errors / dropped, 3) if dropped else None
        if not hazard.get("flagged"):
            hazard["result"] = "clean" if dropped else "inconclusive"
        extra["hazard"] = hazard
    return extra


def _rate(block: dict[str, Any], key: str) -> str:
    rate = block["per_dropped_stream"].get(key)
    return "-" if rate is None else f"{rate:.2f}"


def _pattern_words(name: str, block: dict[str, Any]) -> str:
    if block["result"] == "flagged":
        rates = ", ".join(f"{_rate(block, k)} {WORDS[k]}" for k in COUNTED)
        return f"{name} FLAGGED ({rates} per dropped stream, {block['dropped']} dropped)"
    return f"{name} {block['result']} (0 over {block['dropped']} dropped)"


def consume_verdict(variants: dict[str, dict[str, Any]]) -> list[str]:
    """Verdict lines: per release, each pattern flagged or clean; then why relay cannot."""
    lines = []
    ran: set[str] = set()
    for name, v in variants.items():
        patterns = (v.get("consume") or {}).get("patterns") or {}
        if not patterns or v.get("error"):
            continue
        ran |= set(patterns)
        words = "; ".join(_pattern_words(p, b) for p, b in patterns.items())
        lines.append(f"{name} by consumption pattern: {words}")
    if "relay" in ran:
        lines.append(
            "relay (the client hangs up) cannot trigger it on any release: Starlette cancels "
            "the response body inside its own task, so query() closes where it started."
        )
    return lines


def consume_sections(summary: dict[str, Any]) -> list[Block]:
    """The report's per-release, per-pattern table and what each pattern does."""
    rows = []
    for name, v in (summary.get("variants") or {}).items():
        patterns = (v.get("consume") or {}).get("patterns") or {}
        for pattern, b in patterns.items():
            counted = [f"{b[k]} ({_rate(b, k)})" for k in COUNTED]
            rows.append([name, pattern, str(b["dropped"]), *counted, b["result"]])
    if not rows:
        return []
    k = next(
        (v["consume"].get("break_after") for v in summary["variants"].values() if v.get("consume")),
        None,
    )
    counted = [f"{WORDS[c]} (per dropped)" for c in COUNTED]
    header = ["release", "pattern", "dropped streams", *counted]
    return [
        Heading("Consumption patterns"),
        Paragraph(
            f"Each release served the stream with its own query() over Stampede's stand-in CLI "
            f"transport, consumed in each pattern in turn (k = {k}). Per dropped stream: "
            "cancel-scope RuntimeErrors traced to that stream, consumer tasks cancelled by a "
            "scope the SDK left entered on them, and exceptions escaping the response."
        ),
        Table([*header, "result"], rows),
        BulletList([f"{p}: {DESCRIPTIONS[p]}" for p in CONSUME_PATTERNS]),
    ]
