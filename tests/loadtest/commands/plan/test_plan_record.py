"""What both plans (plan.py, target_plan.py) record about their run: header and ending."""

from __future__ import annotations

import json
import re
import time

import pytest
from stampede.loadtest.commands.plan.plan import finishing, new_run_id, run_record


def test_run_id_is_the_one_asked_for_else_timestamped():
    assert new_run_id("mine") == "mine"
    assert re.fullmatch(r"plan-\d{8}-\d{6}-[0-9a-f]{4}", new_run_id(None))


def test_a_run_that_ends_records_when_and_how_long(tmp_path):
    plan = run_record("r1")
    assert (plan["finished_at"], plan["complete"], plan["interrupted"]) == (None, False, False)
    with finishing(plan, tmp_path / "plan.json", time.monotonic() - 5):
        plan["complete"] = True
    saved = json.loads((tmp_path / "plan.json").read_text())
    assert saved["complete"] is True and saved["interrupted"] is False
    assert saved["finished_at"] and saved["elapsed_s"] >= 5


def test_ctrl_c_is_recorded_and_goes_on_up(tmp_path):
    plan = run_record("r2")
    with pytest.raises(KeyboardInterrupt), finishing(plan, tmp_path / "plan.json", 0.0):
        raise KeyboardInterrupt
    saved = json.loads((tmp_path / "plan.json").read_text())
    assert saved["interrupted"] is True and saved["complete"] is False and saved["finished_at"]


def test_an_error_is_saved_but_not_called_an_interrupt(tmp_path):
    plan = run_record("r3")
    with pytest.raises(RuntimeError), finishing(plan, tmp_path / "plan.json", 0.0):
        raise RuntimeError("probe failed")
    saved = json.loads((tmp_path / "plan.json").read_text())
    assert saved["interrupted"] is False and saved["finished_at"]
