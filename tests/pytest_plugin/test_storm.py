"""A storm as a test: the `stampede` marker and the `stampede_storm` fixture on the project's
example caches, run through pytest in a subprocess. The fixed cache's test passes and reads
the summary's fields; the to_thread cache's test fails in the verdict's words with where the
report is; a bad option fails in one line without a storm."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.serverproc import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

STORMS = """
import pytest

@pytest.mark.stampede("examples.idempotency_cache:fixed_app")
def test_fixed(stampede_storm):
    s = stampede_storm
    assert (s.state, s.wedged, s.evidence) == ("healthy", False, "stall"), s
    assert s.requests_ok > 0 and s.success_ratio > 0.5, s
    assert s.goodput_per_s > 0 and s.loop_errors == {}, s
    assert s.report.exists() and s.passed

@pytest.mark.stampede("examples.idempotency_cache:app")
def test_wedged(stampede_storm):
    pass

def test_bad_option(stampede_storm):
    stampede_storm("examples.idempotency_cache:app", colour="red")
"""


def test_the_marker_storms_and_the_verdict_fails_the_test(tmp_path: Path) -> None:
    (tmp_path / "test_storms.py").write_text(STORMS)
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "--durations=0"]
    argv += [str(tmp_path / "test_storms.py"), "--rootdir", str(tmp_path)]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=230)
    out = proc.stdout
    outcomes = {
        line.rsplit("::", 1)[1].split()[0]: line.split()[0]
        for line in out.splitlines()
        if line.startswith(("PASSED ", "FAILED ", "ERROR "))
    }
    assert outcomes == {
        "test_fixed": "PASSED",
        "test_wedged": "FAILED",
        "test_bad_option": "FAILED",
    }, out[-4000:]
    assert "stampede storm of 'examples.idempotency_cache:app': wedged" in out
    assert "target: WEDGED (evidence stacks" in out
    assert "gate failed: target: wedged (measured yes)" in out
    report = next(line for line in out.splitlines() if line.startswith("report: "))
    assert Path(report.removeprefix("report: ")).exists()
    assert "stampede storm: unknown option 'colour'" in out
