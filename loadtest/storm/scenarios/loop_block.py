"""The event-loop blocking storm (mcp python-sdk #1646): tool calls whose sync tool blocks.

Beside the storm the harness times a cheap request (`/healthz`, or a target's health path)
every 0.1 s: the loop-responsiveness series. The finding (verdict/loop_block.py) reads the
probe's loop lag when the target serves it, else those pings, and py-spy's view of the loop's
thread when a ping was slow (observe/loop_stacks.py, command targets without the probe).
"""

from __future__ import annotations

from typing import Any

from stampede.loadtest.storm.runner import SAMPLE_EVERY_S
from stampede.loadtest.storm.scenarios.detector_tables import sections_for
from stampede.loadtest.storm.scenarios.runtime_report import (
    storm_rows,
    verdict_for,
    with_black_box,
)
from stampede.loadtest.storm.scenarios.scenario import for_hazard
from stampede.loadtest.verdict.figures import Figure, Series
from stampede.loadtest.verdict.loop_block import lag_figures, loop_block_finding, ping_figures
from stampede.server.hazards import LOOP_BLOCK as SPEC

KEY = "loop_block"
LAG_KEYS = ("loop_ticks", "loop_ticks_on_time", "loop_lag_s")


def loop_block_summary(record: Any, summary: dict[str, Any]) -> dict[str, Any]:
    rows = storm_rows(record)
    if not rows:
        return {KEY: loop_block_finding(ping_figures([], 0), None, None)}
    first, last = rows[0]["t_s"], rows[-1]["t_s"]
    pings = [(latency, ok) for t, latency, ok in record.pings if first <= t <= last]
    figures = ping_figures([latency * 1000 for latency, _ in pings], sum(not ok for _, ok in pings))
    # Before and after the storm: a blocked loop may not answer /metrics during it.
    a, b = record.baseline, record.final
    lag = None
    if all(isinstance(m.get(k), int | float) for m in (a, b) for k in LAG_KEYS):
        late = (b["loop_ticks"] - b["loop_ticks_on_time"]) - (
            a["loop_ticks"] - a["loop_ticks_on_time"]
        )
        # Locust's own load time when known (the calls in flight at the end still block).
        load_s = record.timings.get("load_s")
        storm_s = load_s if isinstance(load_s, int | float) and load_s > 0 else None
        storm_s = storm_s or last - first + SAMPLE_EVERY_S
        lag = lag_figures(
            b["loop_ticks"] - a["loop_ticks"], late, b["loop_lag_s"] - a["loop_lag_s"], storm_s
        )
    stacks = record.blackbox.loop.summary() if record.blackbox is not None else None
    finding = loop_block_finding(figures, lag, stacks)
    return {KEY: with_black_box(finding, loop_block_finding(figures, None, stacks))}


def _cells(f: dict[str, Any]) -> list[Any]:
    p, lag, st = f.get("ping") or {}, f.get("lag") or {}, f.get("stacks") or {}
    share = lag.get("blocked_share")
    blocked = f"{st.get('blocked')}/{st.get('dumps')} in {st.get('blocking_frame')}" if st else None
    return [
        p.get("n"),
        p.get("p50_ms"),
        p.get("p95_ms"),
        None if share is None else f"{share:.0%}",
        lag.get("late"),
        blocked if st and st.get("dumps") else None,
    ]


LOOP_BLOCK = for_hazard(
    SPEC,
    "Tool calls whose tool is a sync function (200 ms of blocking I/O), back to back: `inline` "
    "calls it from the async handler, so the event loop's thread sleeps through each call and "
    "a cheap request timed beside the storm waits behind them; `to_thread` runs it on a "
    "worker thread and the loop stays free.",
    verdict=verdict_for(KEY),
    verdict_on_targets=True,
    summary_hooks=[loop_block_summary],
    figures=(
        Figure(
            "loop_responsiveness.png",
            "Loop responsiveness: the slowest cheap request per sample, beside the storm",
            "ms",
            (Series("health request", "ping_ms"),),
        ),
    ),
    sections=sections_for(
        KEY,
        "Event-loop responsiveness",
        "A cheap request (the health path) was timed every 0.1 s beside the storm. With the "
        "probe, the loop's own 100 ms timer says how late it ran in total, as a share of the "
        "storm; without, py-spy looked at the loop's thread whenever a ping was slower than "
        "100 ms.",
        ["pings", "p50 ms", "p95 ms", "timer late (share)", "ticks > 100 ms late", "py-spy"],
        _cells,
    ),
    ping_path="/healthz",
    # Overlapping: one check at a time, a loop blocked 400 ms a call gets 2-3 checks a second,
    # too few in a short storm (4 in 3 s on a busy machine: inconclusive).
    ping_overlap=True,
)
