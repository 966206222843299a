"""The plan's report on the report engine: plots, plan.md and a self-contained plan.html.

Fed a small plan.json that matches the published schema (so the report reads what `plan`
writes), rendered with real matplotlib; the end-to-end run is tests/e2e/test_plan.py.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
from stampede import loadtest
from stampede.loadtest.commands.plan.plan_report import recommendations, write_report

SCHEMA_PATH = Path(loadtest.__file__).parent / "commands" / "plan" / "plan_schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text())


def _row(cpus: int, waiter: str, measured: int | None) -> dict[str, Any]:
    pool = min(32, cpus + 4)
    hol = {
        str(d): {
            "p50": 300.0 + (d * 40 if waiter == "to_thread" else 0),
            "p99": 310.0 + (d * 90 if waiter == "to_thread" else 1),
            "max": 900.0,
            "n": pool - 1,
            "parked_workers": d if waiter == "to_thread" else 0,
            "busy_workers": pool - 1,
            "queued": 0,
            "process_threads": 9,
        }
        for d in (0, pool // 2, pool - 1)
    }
    probe = {
        "duplicates": measured or 16,
        "wedged": measured is not None,
        "conclusive": True,
        "served": 0 if measured else 16,
        "registered_ms": 12.5,
        "peak_parked_workers": pool if measured else 0,
        "pool_size": pool,
        "model_latency_ms": 300.0,
        "elapsed_s": 1.5,
    }
    return {
        "cpus": cpus,
        "waiter": waiter,
        "pool_size": pool,
        "pool_size_py313": pool,
        "predicted_wedge_duplicates": pool if waiter == "to_thread" else None,
        "measured_wedge_duplicates": measured,
        "max_tested": measured or 16,
        "verdict": "match",
        "hol_latency_ms": hol,
        "hol_unrelated": pool - 1,
        "threads_per_waiter": 1.0 if waiter == "to_thread" else 0.0,
        "rss_per_waiter_bytes": 8192.0,
        "cpu_cap": {"requested": float(cpus), "enforced": 2.0, "method": "cgroup-v2", "notes": []},
        "probes": [probe],
        "errors": [],
    }


def _plan() -> dict[str, Any]:
    cost = {"duplicates": 100, "threads_added": 100, "threads_per_waiter": 1.0}
    return {
        "schema_version": 1,
        "run_id": "unit <run>",  # escaped in the page
        "started_at": "2026-01-01T00:00:00Z",
        "finished_at": "2026-01-01T00:01:00Z",
        "elapsed_s": 60.0,
        "complete": True,
        "interrupted": False,
        "settings": {
            "cpus": [1, 4],
            "waiters": ["to_thread", "future"],
            "max_duplicates": 16,
            "model_latency_ms": 300.0,
            "model_cycles": 2,
            "parallel": 2,
            "bench_duplicates": 100,
            "machine": {
                "os_cpu_count": 2,
                "process_cpu_count": 2,
                "cfs_quota_cpus": None,
                "pool_size_py312": 6,
                "pool_size_py313": 6,
                "python": "3.11.9",
            },
        },
        "waiter_cost": {
            "to_thread": {
                **cost,
                "rss_per_waiter_bytes": 16384.0,
                "release_p50_ms": 0.5,
                "release_p99_ms": 2.0,
            },
            "future": {
                **cost,
                "threads_added": 0,
                "threads_per_waiter": 0.0,
                "rss_per_waiter_bytes": 512.0,
                "release_p50_ms": 0.1,
                "release_p99_ms": 0.3,
            },
        },
        "rows": [
            _row(1, "to_thread", 5),
            _row(1, "future", None),
            _row(4, "to_thread", 8),
            _row(4, "future", None),
        ],
        "recommendation": [],
    }


def test_plan_report_carries_its_headline_figures(tmp_path: Path) -> None:
    plan = _plan()
    jsonschema.validate(plan, SCHEMA)
    plan["recommendation"] = recommendations(plan)
    paths = write_report(plan, tmp_path)
    assert [p.name for p in paths] == ["threshold.png", "hol_p99.png", "plan.md", "plan.html"]

    md = (tmp_path / "plan.md").read_text()
    assert md.startswith("# Stampede capacity plan — unit <run>\n")
    recommendation = md.split("## Recommendation", 1)[1].split("##", 1)[0]
    assert "keep same-token retry fan-out below 8 concurrent duplicates" in recommendation
    assert "raised unrelated agents' p99 latency from 310 ms (D=0) to 940 ms" in recommendation
    assert "| 4 | to_thread | 8 | 8 | 8 | 8 | match |" in md
    assert "| 4 | future | 8 | 8 | none | none up to 16 | match |" in md
    assert "| to_thread | 100 | 1.00 | 16.0 KiB | 0.5 / 2.0 |" in md
    assert "![wedge threshold vs cpus](threshold.png)" in md

    page = (tmp_path / "plan.html").read_text()
    assert "<h1>Stampede capacity plan — unit &lt;run&gt;</h1>" in page
    callout = page.split('<ul class="callout">', 1)[1].split("</ul>", 1)[0]
    assert "below 8 concurrent duplicates" in callout
    sources = re.findall(r'src="([^"]*)"', page)
    embedded = [base64.b64decode(s.removeprefix("data:image/png;base64,")) for s in sources]
    assert embedded == [(tmp_path / n).read_bytes() for n in ("threshold.png", "hol_p99.png")]
    assert "<td>none up to 16</td>" in page
    assert not re.search(r"https?:|<link|<script", page)
