"""The slot-leak storm (litellm #27955): paced SSE streams, half dropped mid-stream.

Each variant's summary gains a `slot_release` block (loadtest/verdict/slot_release.py): the
rejections the clients saw, split by what else they had in flight, goodput in the first and
last third of the storm, and, with the probe, rejections while the server reported nothing in
flight.
"""

from __future__ import annotations

from typing import Any

from stampede.loadtest.storm.scenarios.detector_tables import detector_section
from stampede.loadtest.storm.scenarios.scenario import for_hazard
from stampede.loadtest.verdict.figures import Figure, Series
from stampede.loadtest.verdict.slot_release import (
    BUSY_REJECT,
    IDLE_REJECT,
    goodput_thirds,
    idle_rejection_intervals,
    rejections,
    slot_finding,
    slot_line,
)
from stampede.server.hazards import SLOT_RELEASE as SPEC


def slot_summary(record: Any, summary: dict[str, Any]) -> dict[str, Any]:
    blackbox = getattr(record, "blackbox", None)
    probed = blackbox is None or bool(blackbox.probed)
    by_name = (summary.get("requests") or {}).get("by_name") or {}
    finding = slot_finding(
        rejections(by_name, IDLE_REJECT, BUSY_REJECT),
        goodput_thirds(record.samples),
        idle_rejection_intervals(record.samples),
        probed,
    )
    return {"slot_release": finding}


def slot_verdict(variants: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for name, v in variants.items():
        if v.get("error"):
            lines.append(f"{name} did not run to the end: {v['error']}")
        else:
            lines.append(slot_line(name, v.get("slot_release") or {}))
    return lines


SLOT_RELEASE = for_hazard(
    SPEC,
    "Paced SSE streams behind the server's max-parallel counter, half of them dropped after "
    "2 events: release_on_return keeps the slot of every cancelled stream, so the server "
    "refuses (429) more and more of the same offered load and ends refusing with nothing in "
    "flight; release_finally gives every slot back.",
    locust_args={"slot_interval": "0.4"},
    summary_hooks=[slot_summary],
    verdict=slot_verdict,
    verdict_on_targets=True,
    sections=detector_section(
        "Capacity slots",
        "slot_release",
        "Rejections (429/503) the clients saw, and how many came back while the Locust process "
        "had nothing else in flight; goodput (answers/s) in the first and last third of the "
        "paced storm; probed: samples with rejections while the server counted 0 requests in "
        "flight.",
        [
            ("rejections", lambda b: b.get("total")),
            ("nothing else in flight", lambda b: b.get("idle")),
            ("goodput first/last per s", lambda b: f"{b.get('first_per_s')}/{b.get('last_per_s')}"),
            ("goodput lost", lambda b: b.get("decay")),
            ("idle-rejection samples", lambda b: b.get("idle_intervals")),
        ],
    ),
    figures=(
        Figure(
            "slot_goodput.png",
            "Answers and failures per second, and requests in flight at the server",
            "per s / requests",
            (
                Series("client requests/s", "client_rps"),
                Series("client failures/s", "client_failures_per_s"),
                Series("server in flight", "http_in_flight"),
            ),
        ),
    ),
)
