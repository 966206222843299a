"""Plots and reports from real plotting code: valid PNGs, a self-contained HTML page."""

from __future__ import annotations

import base64
import itertools
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import matplotlib.image
import pytest
from stampede.loadtest.commands.compare.report import settings_rows, summary_table, write_reports
from stampede.loadtest.report import plots as plots_module
from stampede.loadtest.report.plots import make_plots
from stampede.loadtest.report.results import atomic_write_json, point_latest
from stampede.loadtest.storm.scenarios import SCENARIOS
from stampede.loadtest.storm.scenarios.idempotency import waiter_verdict
from stampede.loadtest.verdict.figures import FIGURES, INTENT_FIGURES
from stampede.probe.metrics import LOOP_ERROR_KINDS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def text_chunks(png: bytes) -> list[bytes]:
    """The PNG's text metadata chunks (matplotlib puts its URL in "Software" by default)."""
    texts, at = [], len(PNG_SIGNATURE)
    while at + 8 <= len(png):
        length = int.from_bytes(png[at : at + 4], "big")
        kind = png[at + 4 : at + 8]
        if kind in (b"tEXt", b"iTXt", b"zTXt"):
            texts.append(png[at + 8 : at + 8 + length])
        at += 12 + length
    return texts


def samples(variant: str, wedge_at: float | None) -> list[dict[str, Any]]:
    rows = []
    for i in range(20):
        t = i * 0.5
        wedged = wedge_at is not None and t >= wedge_at
        rows.append(
            {
                "variant": variant,
                "t_s": t,
                "threads": 11 if wedged else 5 + i % 3,
                "busy_waiter": 6 if wedged else 0,
                "busy_model": 0 if wedged else 3,
                "executor_queued": 40 + i if wedged else 0,
                "event_loop_tasks": 70 + i if wedged else 12,
                "client_rps": 100.0,
                "client_failures_per_s": 90.0 if wedged else 10.0,
                "rss_bytes": 64 << 20,
            }
        )
    return rows


def variant(wedged_at: float | None) -> dict[str, Any]:
    return {
        "wedged": wedged_at is not None,
        "wedged_at_s": wedged_at,
        "executor_max_workers": 6,
        "peak_threads": 11 if wedged_at else 7,
        "peak_waiter_threads": 6 if wedged_at else 0,
        "requests": {"ok": 0 if wedged_at else 300, "failed": 40, "conflict": 30, "timeout": 10},
        "latency_ms": {"p50": 2.0, "p95": 1500.0, "p99": 1500.0},
        "caps": {
            "method": "cgroup-v1",
            "requested": {"cpus": 2.0, "memory_bytes": 512 << 20, "pids": 512},
            "enforced": {"cpus": 2.0, "memory_bytes": 512 << 20, "pids": 512},
            "notes": [],
        },
    }


def intent_buckets(wedge_at: float | None) -> list[dict[str, Any]]:
    rows = []
    for t in range(10):
        down = wedge_at is not None and t >= wedge_at
        rows.append(
            {
                "t_s": t + 0.5,
                "goodput": 0 if down else 5,
                "intents_per_s": 5,
                "amplification": 12.0 if down else 6.0,
                "intent_p50_ms": None if down else 1000,
                "intent_p99_ms": None if down else 1400,
            }
        )
    return rows


def test_plots_and_self_contained_report(tmp_path: Path) -> None:
    inputs = {
        "to_thread": {
            "samples": samples("to_thread", 4.0),
            "history": [{"t_s": t, "p50": 2, "p95": 1500, "p99": 1500} for t in range(10)],
            "intents": intent_buckets(4.0),
            "wedged_at_s": 4.1,
            "executor_max_workers": 6,
        },
        "future": {
            "samples": samples("future", None),
            "history": [],
            "intents": intent_buckets(None),
            "wedged_at_s": None,
        },
    }
    plots = make_plots(inputs, tmp_path / "plots")
    assert [p.name for p in plots] == [f.filename for f in FIGURES]
    assert [p.name for p in plots][:3] == ["goodput.png", "amplification.png", "intent_latency.png"]
    # Without intents (the stream and session storms) there are no empty intent panels.
    for data in inputs.values():
        data["intents"] = []
    bare = make_plots(inputs, tmp_path / "bare")
    assert [p.name for p in bare] == [f.filename for f in FIGURES if f not in INTENT_FIGURES]
    for path in plots:
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5000, path
        assert not any(b"http" in text for text in text_chunks(data)), f"URL in {path.name}"
        height, width, _ = matplotlib.image.imread(path).shape
        assert width > 500 and height > 200

    variants = {"to_thread": variant(4.1), "future": variant(None)}
    summary = {
        "run_id": "r1",
        "scenario": "idempotency",
        "description": "test <b>escaping</b>",
        "settings": {"duration_s": 20.0, "cpus": 2.0},
        "variants": variants,
        "verdict": waiter_verdict(variants),
    }
    md, page = write_reports(tmp_path, summary, plots)
    html = page.read_text()
    # Self-contained: no scheme, no protocol-relative URL, every src a data URI.
    assert not re.search(r"https?:|//cdn|url\(", html, re.IGNORECASE)
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == len(plots)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    embedded = {base64.b64decode(s.split(",", 1)[1]) for s in sources}
    assert embedded == {p.read_bytes() for p in plots}
    assert "test &lt;b&gt;escaping&lt;/b&gt;" in html
    assert "to_thread wedged at 4.1 s with 6/6 workers parked by waiters" in html
    assert "future did not wedge; peak 0 worker(s) parked by waiters" in html

    text = md.read_text()
    assert "| peak workers parked by waiters | 6 | 0 |" in text
    assert all(f"](plots/{p.name})" in text for p in plots)
    assert "cgroup-v1" in text


def test_scenario_figures_are_drawn_and_go_with_the_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = SCENARIOS["session"].figures
    assert [f.filename for f in figures] == ["loop_errors.png", "live_tasks.png"]
    assert not SCENARIOS["idempotency"].figures

    def rows(leaking: bool) -> list[dict[str, Any]]:
        return [
            {
                "t_s": i * 0.5,
                "event_loop_tasks": 4 + (2 * i if leaking else 0),
                **{f"loop_errors_{k}": 0 for k in LOOP_ERROR_KINDS},
                "loop_errors_task_destroyed_pending": 2 * i if leaking else 0,
            }
            for i in range(20)
        ]

    inputs = {
        "bare": {"samples": rows(True), "history": [], "baseline_tasks": 4},
        "closing": {"samples": rows(False), "history": [], "baseline_tasks": 4},
    }
    plots = make_plots(inputs, tmp_path / "plots", figures)
    standard, extra = plots[: -len(figures)], plots[-len(figures) :]
    assert [p.name for p in extra] == ["loop_errors.png", "live_tasks.png"]
    for path in extra:
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5000, path
        assert matplotlib.image.imread(path).size > 0
    # Same file name as a standard figure: refused rather than silently overwritten.
    with pytest.raises(ValueError, match=r"threads\.png"):
        make_plots(inputs, tmp_path / "again", (replace(figures[0], filename="threads.png"),))
    # A deadline already past draws nothing; one that leaves room for a single figure (as long
    # as the first took: each reading of this fake clock is 10 s later) draws the scenario's own
    # evidence first.
    assert make_plots(inputs, tmp_path / "late", figures, until=time.monotonic() - 1) == []
    ticks = itertools.count(10, 10)
    with monkeypatch.context() as patched:
        patched.setattr(plots_module.time, "monotonic", lambda: float(next(ticks)))
        first = make_plots(inputs, tmp_path / "one", figures, until=15.0)
    assert [p.name for p in first] == ["loop_errors.png"]

    variants = {
        "bare": {"hazard": {"result": "flagged", "triggers": 10, "errors": 20}},
        "closing": {"hazard": {"result": "clean", "triggers": 10, "errors": 0}},
    }
    summary = {"run_id": "r2", "scenario": "session", "variants": variants,
               "verdict": ["bare FLAGGED: 20 reports", "closing clean"]}  # fmt: skip
    md, page = write_reports(tmp_path, summary, standard, extra)
    html = page.read_text()
    verdict_section = html.split("<h2>Verdict</h2>", 1)[1].split("<h2>", 1)[0]
    assert 'alt="loop_errors"' in verdict_section and 'alt="live_tasks"' in verdict_section
    assert "bare FLAGGED" in verdict_section
    plots_section = html.split("<h2>Plots</h2>", 1)[1]
    assert 'alt="threads"' in plots_section and 'alt="loop_errors"' not in plots_section
    assert len(re.findall(r'src="data:image/png;base64,', html)) == len(plots)
    text = md.read_text()
    verdict_md = text.split("## Verdict", 1)[1].split("## Summary", 1)[0]
    assert "](plots/loop_errors.png)" in verdict_md and "](plots/live_tasks.png)" in verdict_md
    assert "| hazard result | flagged | clean |" in text


def test_atomic_writes_and_latest_link(tmp_path: Path) -> None:
    run = tmp_path / "run-1"
    atomic_write_json(run / "summary.json", {"complete": True})
    atomic_write_json(run / "summary.json", {"complete": False})
    assert (run / "summary.json").read_text().strip().endswith("}")
    assert [p.name for p in run.iterdir()] == ["summary.json"], "temp files left behind"
    point_latest(tmp_path, run)
    second = tmp_path / "run-2"
    second.mkdir()
    point_latest(tmp_path, second)
    assert (tmp_path / "latest").resolve() == second.resolve()
    assert not list(tmp_path.glob(".latest*"))


def test_progress_degrades_to_plain_lines(monkeypatch: Any) -> None:
    import io

    from stampede.loadtest.report import progress

    stream = io.StringIO()  # not a terminal: plain lines, at most one per variant per interval
    clock = iter([0.0, 0.5, 2.5])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    with progress.ProgressDisplay("title", stream=stream) as display:
        row = {"variant": "to_thread", "t_s": 1.04, "client_rps": 80.4, "client_failures": 3}
        display.update({**row, "threads": 11, "waiters": 6, "wedged": 1})
        display.update({**row, "threads": 11})  # within the interval: no line
        display.update({"variant": "to_thread", "t_s": 3.0, "wedged": 1})  # keeps known values
    lines = stream.getvalue().splitlines()
    assert lines[0] == "title"
    assert lines[1] == (
        "variant=to_thread elapsed=1.0s rps=80 failures=3 threads=11 waiters=6 wedged=WEDGED"
    )
    assert lines[2].startswith("variant=to_thread elapsed=3.0s rps=80 failures=3 threads=11")
    assert len(lines) == 3 and "\x1b[" not in stream.getvalue()


def test_settings_are_shown_as_given_and_targets_get_their_state_rows() -> None:
    rows = settings_rows({"settings": {"retry_base_s": 0.25, "duration_s": 4.0}})
    assert rows == [["retry_base_s", "0.25"], ["duration_s", "4"]]
    failing = {
        "state": {"label": "failing: 12% success", "evidence": "counts", "success_ratio": 0.12},
        "intents": {
            "failure_kinds": [
                {"kind": "http_error", "status": 500, "share": 0.88, "sample": "Concurrency"}
            ]
        },
    }
    _, table = summary_table({"variants": {"agent": failing}})
    cells = {row[0]: row[1] for row in table}
    assert cells["state"] == "failing: 12% success (evidence counts)"
    assert cells["success ratio"] == "12.0%"
    assert cells["attempt failures (share, status: sample)"] == "88% HTTP 500: Concurrency"
