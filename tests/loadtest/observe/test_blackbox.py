"""The black box's progress watch and the evidence each verdict rests on, fed sampler rows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stampede.loadtest.observe.blackbox import BlackBox


def rows(oks: list[int], inflight: int = 4, every_s: float = 0.5) -> list[dict]:
    return [
        {"t_s": i * every_s, "client_users": 4, "client_ok": ok, "client_inflight": inflight}
        for i, ok in enumerate(oks)
    ]


def gone_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_successes_keep_it_unstalled_and_errors_are_not_progress(tmp_path: Path) -> None:
    box = BlackBox(pid=None, stderr_path=None, stall_s=2.0, run_dir=tmp_path, stem="t")
    for row in rows([1, 2, 3, 4, 5, 6, 7, 8]):
        box.observe(row)
    assert box.stalled_at_s is None
    assert box.summary(None, None).items() >= {"wedged": False, "wedge_evidence": "stall"}.items()

    # Only fast failures from now on (a wedged server's 409s): no success is no progress.
    for row in rows([8] * 6, every_s=0.5):
        row["t_s"] += 4.0
        box.observe(row)
    assert box.stalled_at_s == 5.5  # 2 s after the last success, at 3.5 s


def test_nothing_in_flight_is_idle_not_stalled(tmp_path: Path) -> None:
    box = BlackBox(pid=None, stderr_path=None, stall_s=1.0, run_dir=tmp_path, stem="t")
    for row in rows([3] * 10, inflight=0):
        box.observe(row)
    assert box.stalled_at_s is None


def test_a_stall_without_stacks_is_stalled_not_wedged_and_says_why(tmp_path: Path) -> None:
    url_target = BlackBox(pid=None, stderr_path=None, stall_s=1.0, run_dir=tmp_path, stem="u")
    for row in rows([0, 1, 1, 1, 1, 1]):
        url_target.observe(row)
    fields = url_target.summary(None, None)
    assert (fields["wedged"], fields["wedge_evidence"]) == (False, "stall")
    assert url_target.stalled_at_s is not None

    unreachable = BlackBox(
        pid=gone_pid(), stderr_path=None, stall_s=1.0, run_dir=tmp_path, stem="g"
    )
    flagged = rows([0, 1, 1, 1, 1, 1])
    for row in flagged:
        unreachable.observe(row)
    fields = unreachable.summary(None, None)
    assert (fields["wedged"], fields["wedge_evidence"]) == (False, "stall")
    assert "py-spy" in fields["stacks_error"]
    # A stall alone is no wedge: the row says stalled, and nothing would end the run early.
    assert any(row.get("stalled") for row in flagged)
    assert not any(row.get("wedged") for row in flagged)


def test_the_probe_makes_it_exact_and_a_storm_that_never_started_is_unknown(
    tmp_path: Path,
) -> None:
    probed = BlackBox(pid=None, stderr_path=None, stall_s=1.0, run_dir=tmp_path, stem="p")
    for row in rows([1, 2, 3]):
        probed.observe({**row, "probed": 1, "wedged": 1})
    exact = {"wedged": True, "wedge_evidence": "exact", "parked_executor_threads": 6}
    assert probed.summary(None, 6).items() >= exact.items()
    # Probed, never stalled, no flag: exact "not wedged" (the probe serves no /v1/status).
    calm = BlackBox(pid=None, stderr_path=None, stall_s=1.0, run_dir=tmp_path, stem="c")
    for row in rows([1, 2, 3]):
        calm.observe({**row, "probed": 1, "wedged": 0})
    assert calm.summary(None, 0).items() >= {"wedged": False, "wedge_evidence": "exact"}.items()
    idle = BlackBox(pid=None, stderr_path=None, stall_s=1.0, run_dir=tmp_path, stem="i")
    assert idle.summary(None, None)["wedge_evidence"] is None
    assert idle.summary(None, None, ok_requests=5)["wedged"] is False


def test_a_probed_stall_the_probe_did_not_call_a_wedge_is_no_wedge(tmp_path: Path) -> None:
    """Seen on real servers: with the probe, every stall read as "WEDGED (evidence exact)"."""
    box = BlackBox(pid=None, stderr_path=None, stall_s=1.0, run_dir=tmp_path, stem="s")
    flagged = [{**row, "probed": 1, "wedged": 0} for row in rows([1, 2, 2, 2, 2, 2, 2])]
    for row in flagged:
        box.observe(row)
    assert box.stalled_at_s is not None
    fields = box.summary(None, 0)
    assert (fields["wedged"], fields["probe_saw_wedge"]) == (False, False)
    assert not any(row.get("wedged") for row in flagged)


# A real process: a two-worker pool, one worker parked from the start, the other busy until the
# test lets it park too (a slow model call ending, its duplicates then parked behind it).
LATE_WEDGE = """
import sys, threading, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
never, flag = threading.Event(), Path(sys.argv[1])
def busy_then_park():
    while not flag.exists():
        sum(range(10_000))
    print("parked", flush=True)
    never.wait()
pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="asyncio")
pool.submit(never.wait)
pool.submit(busy_then_park)
print("ready", flush=True)
never.wait()
"""


def test_a_wedge_that_forms_after_the_stall_began_is_proven_by_later_stacks(
    tmp_path: Path,
) -> None:
    flag = tmp_path / "park"
    proc = subprocess.Popen([sys.executable, "-c", LATE_WEDGE, str(flag)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        box = BlackBox(pid=proc.pid, stderr_path=None, stall_s=1.0, run_dir=tmp_path, stem="w")
        stalled = rows([1, 1, 1])  # stalled at 1.0 s: one worker still busy
        for row in stalled:
            box.observe(row)
        assert box.stalled_at_s == 1.0 and box.stacks is not None and not box.stacks.error
        assert not box.stacks_wedged and not any(row.get("wedged") for row in stalled)

        flag.touch()
        assert proc.stdout.readline() == "parked\n"
        later = rows([1] * 6)[3:]  # 1.5 s (too soon for another dump), 2.0 s, 2.5 s
        for row in later:
            box.observe(row)
        assert box.stacks_wedged and [row.get("wedged") for row in later] == [None, 1, None]
        fields = box.summary(None, None)
        assert (fields["wedged"], fields["wedge_evidence"]) == (True, "stacks")
        assert fields["parked_executor_threads"] == 2
    finally:
        proc.kill()
        proc.wait()
