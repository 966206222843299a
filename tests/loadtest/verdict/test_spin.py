"""The spin rule: how long the busiest thread was runnable with nothing in flight."""

from __future__ import annotations

from stampede.loadtest.verdict.spin import CPU_SHARE, RUNNABLE_SHARE, spin_finding

HOT = {"os_tid": 7, "cpu_s": 0.4, "runnable_s": 1.96, "runnable_share": 0.98}


def test_a_thread_runnable_all_the_time_spins_even_with_little_cpu() -> None:
    # A busy machine: the spinner gets 20% of a core, but it never stops wanting one.
    idle = {"wall_s": 2.0, "cpu_s": 0.4, "cpu_share": 0.2, "hot_thread": HOT}
    finding = spin_finding(idle)
    assert (finding["finding"], finding["evidence"]) == ("spinning", "black-box")
    assert "busiest thread was runnable 98% of it" in finding["reason"]
    assert finding["bound"] == RUNNABLE_SHARE


def test_stacks_name_the_busy_thread_and_the_probe_makes_it_exact() -> None:
    hot = {**HOT, "name": "MainThread", "frames": ["Canceller._deliver (app.py:38)"]}
    idle = {"wall_s": 2.0, "cpu_s": 0.4, "cpu_share": 0.2, "hot_thread": hot}
    stacks = spin_finding(idle)
    assert stacks["evidence"] == "stacks"
    assert "busiest thread MainThread in Canceller._deliver (app.py:38)" in stacks["reason"]
    probed = spin_finding({**idle, "loop_cpu_s": 0.39, "loop_cpu_share": 0.195})
    assert (probed["finding"], probed["evidence"]) == ("spinning", "exact")
    # The probe says the loop's thread is not the one burning: no exact claim about it.
    other = spin_finding({**idle, "loop_cpu_s": 0.01, "loop_cpu_share": 0.005})
    assert other["evidence"] == "stacks"


def test_a_sleeping_server_is_clean() -> None:
    hot = {"os_tid": 7, "cpu_s": 0.01, "runnable_s": 0.02, "runnable_share": 0.01}
    idle = {"wall_s": 2.0, "cpu_s": 0.01, "cpu_share": 0.005, "hot_thread": hot}
    assert spin_finding(idle)["finding"] == "clean"
    probed = spin_finding({**idle, "loop_cpu_s": 0.0, "loop_cpu_share": 0.0})
    assert (probed["finding"], probed["evidence"]) == ("clean", "exact")


def test_without_run_queue_figures_the_cpu_share_decides() -> None:
    at = spin_finding({"wall_s": 2.0, "cpu_s": 2 * CPU_SHARE, "cpu_share": CPU_SHARE})
    below = spin_finding({"wall_s": 2.0, "cpu_s": 0.2, "cpu_share": CPU_SHARE - 0.01})
    assert (at["finding"], below["finding"]) == ("spinning", "clean")
    url = spin_finding({"wall_s": 2.0, "loop_cpu_s": 1.9, "loop_cpu_share": 0.95})
    assert (url["finding"], url["evidence"]) == ("spinning", "exact")


def test_no_idle_phase_or_no_reading_is_inconclusive() -> None:
    assert spin_finding({})["finding"] == "inconclusive"
    assert (
        spin_finding({"wall_s": 0.5, "cpu_share": 1.0, "cpu_s": 0.5})["finding"] == "inconclusive"
    )
    assert spin_finding({"wall_s": 2.0})["finding"] == "inconclusive"  # a URL target, no probe


def test_a_stack_that_shows_only_the_loops_runner_is_no_stack_evidence() -> None:
    hot = {**HOT, "name": "MainThread", "frames": ["Runner.run (runners.py:118)"], "caught": False}
    finding = spin_finding({"wall_s": 2.0, "cpu_s": 0.4, "cpu_share": 0.2, "hot_thread": hot})
    assert (finding["finding"], finding["evidence"]) == ("spinning", "black-box")
