"""`stampede compare --locust-workers 2`: Locust's distributed mode, a master and two local
workers. The master merges what the workers saw, so the accounting is one process's: Locust's
request counts, the client metrics the sampler reads, and the per-intent outcomes agree."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serverproc import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_two_workers_merge_into_one_accounting(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "stampede", "compare", "--variants", "future"]
    argv += [
        "--duration",
        "4",
        "--users",
        "4",
        "--locust-workers",
        "2",
        "--no-progress",
        "--no-plots",
    ]
    argv += ["--wait", "120", "--out", str(tmp_path)]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    run = tmp_path / "latest"
    summary = json.loads((run / "summary.json").read_text())
    variant = summary["variants"]["future"]
    requests = variant["requests"]
    assert requests["source"] == "locust" and requests["ok"] > 0
    with (run / "timeseries.csv").open() as handle:
        seen = [int(r["client_requests"]) for r in csv.DictReader(handle) if r["client_requests"]]
    # The master runs no users: every request the sampler saw came from a worker's reports.
    assert max(seen) == requests["ok"] + requests["failed"]
    # --no-plots: no PNG drawn, and the report says why its Plots section is empty.
    assert summary["plots"] == [] and not list(run.glob("plots/*.png"))
    assert "Not drawn: the run was given --no-plots." in (run / "report.md").read_text()
    assert variant["intents"]["succeeded"] > 0
    # Stampede's own server: the probe is built in, so its verdict is exact.
    assert variant["target"] == {"kind": "builtin"}
    assert (variant["wedged"], variant["wedge_evidence"]) == (False, "exact")
    assert variant["parked_executor_threads"] == 0
    for index in (0, 1):
        log = (run / f"locust/future.worker-{index}.log").read_text()
        assert "Got quit message from master" in log
    assert "2 workers connected" in (run / "locust/future.log").read_text()
