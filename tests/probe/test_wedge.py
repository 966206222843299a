"""The general wedge rule on a real instrumented executor: parked workers with work queued
behind them and no completion wedge; busy workers, or parked ones with nothing queued, do not."""

from __future__ import annotations

import threading
import time

from stampede.probe.executor import InstrumentedExecutor
from stampede.probe.wedge import WedgeState

CONFIRM_S = 0.3


def _watch(executor: InstrumentedExecutor, seconds: float) -> WedgeState:
    state = WedgeState()
    until = time.monotonic() + seconds
    while time.monotonic() < until and not state.wedged:
        state.update_parked(executor.snapshot(stacks=True), CONFIRM_S)
        time.sleep(0.05)
    return state


def test_every_worker_parked_with_work_queued_wedges() -> None:
    executor = InstrumentedExecutor(3)
    release = threading.Event()
    try:
        for _ in range(3):
            executor.submit(release.wait)
        executor.submit(lambda: None)  # queued behind the parked workers, like a model call
        time.sleep(0.1)
        snapshot = executor.snapshot(stacks=True)
        assert len(snapshot.parked) == 3 and len(snapshot.queued) == 1
        state = _watch(executor, 2.0)
        assert state.wedged and state.rule == "parked"
    finally:
        release.set()
        executor.shutdown(wait=True)


def test_busy_workers_and_parked_without_queue_do_not_wedge() -> None:
    busy = InstrumentedExecutor(2)
    try:
        for _ in range(4):
            busy.submit(time.sleep, 0.8)  # a slow blocking model: working, not waiting
        time.sleep(0.1)
        assert busy.snapshot(stacks=True).parked == frozenset()
        assert not _watch(busy, 1.0).wedged
    finally:
        busy.shutdown(wait=True)

    parked = InstrumentedExecutor(2)
    release = threading.Event()
    try:
        for _ in range(2):
            parked.submit(release.wait)  # a full pool of waits, but nothing queued behind
        assert not _watch(parked, 1.0).wedged
    finally:
        release.set()
        parked.shutdown(wait=True)


def test_a_completion_restarts_the_confirmation() -> None:
    executor = InstrumentedExecutor(2)
    gate = threading.Event()
    release = threading.Event()
    try:
        executor.submit(release.wait)
        executor.submit(gate.wait)
        executor.submit(lambda: None)
        time.sleep(0.1)
        state = WedgeState()
        state.update_parked(executor.snapshot(stacks=True), CONFIRM_S)
        gate.set()  # one worker frees: the queued item runs and completes
        time.sleep(CONFIRM_S + 0.1)
        state.update_parked(executor.snapshot(stacks=True), CONFIRM_S)
        assert not state.wedged
    finally:
        release.set()
        executor.shutdown(wait=True)
