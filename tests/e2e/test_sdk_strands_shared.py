"""`compare --scenario shared_agent --sdk` with the real strands-agents on each side of PR #1453.

Each variant's server answers the chat route with ONE real `strands.Agent` shared by every
request, in that release's cached venv (server/sdk/strands_shared.py). 1.21.0 has no guard: the
overlapping turns corrupt the shared history, and every turn after them fails, one at a time
too. 1.22.0 refuses the overlapping call with ConcurrencyException (a 500 here) and stays sound.
The same detector (verdict/shared_agent.py) decides both, on the clients' counts per phase.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from stampede.loadtest.targets.sdk_envs import ensure_env, parse_spec

from tests.serverproc import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

BEFORE, AFTER = "strands-agents==1.21.0", "strands-agents==1.22.0"  # each side of PR #1453


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    for spec in (BEFORE, AFTER):  # build outside the timed run if this machine has not yet
        ensure_env(parse_spec(spec), print)
    out = tmp_path_factory.mktemp("strands-shared") / "results"
    argv = [sys.executable, "-m", "stampede", "compare", "--scenario", "shared_agent"]
    argv += ["--sdk", f"{BEFORE},{AFTER}", "--duration", "3", "--users", "1", "--grace", "1"]
    argv += ["--out", str(out), "--no-progress", "--no-plots", "--wait", "300"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (path,) = [p for p in out.glob("*/summary.json") if not p.parent.is_symlink()]
    result: dict[str, Any] = json.loads(path.read_text())
    result["report_md"] = (path.parent / "report.md").read_text()
    return result


def test_both_releases_ran_with_the_shared_strands_agent(summary: dict[str, Any]) -> None:
    assert summary["complete"] is True and summary["scenario"] == "shared_agent"
    assert list(summary["variants"]) == [BEFORE, AFTER]
    for spec, v in summary["variants"].items():
        assert v["error"] is None, (spec, v["error"])
        assert v["server_settings"]["shared_agent_impl"] == "strands"
        block = v["shared_agent"]
        assert block["server"]["sdk"] == spec.replace("==", " ")
        # One at a time before any overlap: sound on both, the control of the comparison.
        assert block["before"]["requests"] > 0 and block["before"]["failed"] == 0, block
        assert block["overlap"]["requests"] > 0 and block["after"]["requests"] > 0, block


def test_before_1453_overlap_corrupts_the_shared_agent_for_good(summary: dict[str, Any]) -> None:
    block = summary["variants"][BEFORE]["shared_agent"]
    assert (block["finding"], block["only_on_overlap"], block["broken_for_good"]) == (
        "failing",
        True,
        True,
    ), block
    # The turn that got through answers with the other turns' messages in its history ...
    assert block["corrupted_answers"] >= 1 and block["server"]["corrupted_answers"] >= 1
    # ... and from then on the model refuses the history, one at a time too: every turn fails.
    assert block["after"]["failed"] == block["after"]["requests"], block
    raised = block["server"]["raised"]
    assert set(raised) == {"HistoryRejectedError"}, raised  # no ConcurrencyException before 1.22
    line = next(x for x in summary["verdict"] if x.startswith(BEFORE))
    assert "BROKEN FOR GOOD after it: the shared agent is corrupted" in line


def test_after_1453_overlap_is_refused_and_the_agent_stays_sound(summary: dict[str, Any]) -> None:
    block = summary["variants"][AFTER]["shared_agent"]
    assert (block["finding"], block["only_on_overlap"], block["broken_for_good"]) == (
        "failing",
        True,
        False,
    ), block
    # Every overlap fault is strands' ConcurrencyException, as the server counted it (it may
    # count more: an overlapping turn still running when the storm ended, or one its client
    # gave up on, is no client fault); the turn that held the lock answered soundly, and the
    # one-at-a-time check after it is clean.
    raised = block["server"]["raised"]
    assert set(raised) == {"ConcurrencyException"}, block
    assert raised["ConcurrencyException"] >= block["overlap_faults"] > 0, block
    assert block["overlap"]["by_kind"] == {"http_error": block["overlap_faults"]}, block
    assert block["corrupted_answers"] == 0 and block["server"]["corrupted_answers"] == 0
    assert block["after"]["failed"] == 0, block
    line = next(x for x in summary["verdict"] if x.startswith(AFTER))
    assert "clean again: refused, not corrupted" in line
    assert "strands-agents 1.22.0 raised ConcurrencyException" in line
    assert "strands-agents 1.22.0: ConcurrencyException" in summary["report_md"]
