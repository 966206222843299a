"""Kill anywhere: SIGINT, SIGTERM, SIGHUP or SIGKILL at a random moment of `compare --duration 3`
and of `plan --cpus 1`, then one clean start. Nothing may outlive its harness (the parent-death
signal takes children of a SIGKILLed harness; the next start sweeps their cgroups), and every
summary.json / plan.json left behind must parse, marked incomplete unless the run finished.

The moments come from a seeded RNG; the seed is printed (and taken from
$STAMPEDE_KILL_SEED when set, to replay a failure). compare and plan trials run side by side,
each command with its own run lock, to keep the test near a minute.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
from stampede.loadtest.process.caps import probe_cgroups
from stampede.loadtest.process.lifeline import marked_processes, parse_token
from stampede.loadtest.process.runlock import LOCK_ENV

pytestmark = pytest.mark.slow

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL)
COMMANDS = {
    # argv, and the window the kill moment is drawn from (a whole run takes ~15-20 s here)
    "compare": (["compare", "--duration", "3", "--no-progress"], (0.3, 13.0)),
    "plan": (["plan", "--cpus", "1", "--no-progress"], (0.3, 10.0)),
}
GRACEFUL_EXIT_S = 30.0  # a teardown is bounded well inside this
CHILDREN_GONE_S = 5.0  # a parent-death SIGKILL lands in milliseconds; slack for a busy machine
SEED = int(os.environ.get("STAMPEDE_KILL_SEED") or random.SystemRandom().randrange(2**32))


@dataclass
class Trial:
    command: str
    sig: signal.Signals
    moment_s: float
    pid: int = 0
    returncode: int | None = None
    children: set[tuple[int, float]] = field(default_factory=set)  # (pid, create time)
    stderr: str = ""


def stampede_cgroups(owner_pids: set[int]) -> list[Path]:
    leaves = []
    for mount in set(probe_cgroups().mounts.values()):
        parent = mount / "stampede"
        if parent.is_dir():
            leaves += [p for p in parent.iterdir() if any(f".{o}." in p.name for o in owner_pids)]
    return leaves


def alive(children: set[tuple[int, float]]) -> list[str]:
    left = []
    for pid, created in children:
        try:
            proc = psutil.Process(pid)
            if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{pid} {' '.join(proc.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            continue
    return left


def run_trial(trial: Trial, out: Path, lock: Path) -> Trial:
    argv, _ = COMMANDS[trial.command]
    env = {**os.environ, LOCK_ENV: str(lock)}
    out.mkdir(parents=True)
    err = out / "stderr.txt"
    with err.open("wb") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stampede", *argv, "--out", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=handle,
            env=env,
        )
        trial.pid = proc.pid
        harness = psutil.Process(proc.pid)
        until = time.monotonic() + trial.moment_s
        while time.monotonic() < until and proc.poll() is None:
            with contextlib.suppress(psutil.Error):
                trial.children |= {(c.pid, c.create_time()) for c in harness.children(True)}
            time.sleep(0.05)
        if proc.poll() is None:
            proc.send_signal(trial.sig)
        try:
            trial.returncode = proc.wait(timeout=GRACEFUL_EXIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            trial.returncode = proc.wait()
    deadline = time.monotonic() + CHILDREN_GONE_S
    while alive(trial.children) and time.monotonic() < deadline:
        time.sleep(0.05)
    trial.stderr = err.read_text(errors="replace")
    return trial


def run_command_trials(command: str, rng: random.Random, out: Path) -> list[Trial]:
    lo, hi = COMMANDS[command][1]
    trials = [Trial(command, sig, round(rng.uniform(lo, hi), 2)) for sig in SIGNALS]
    return [run_trial(t, out / t.sig.name, out / "run.lock") for t in trials]


def result_files(out: Path) -> list[Path]:
    return sorted([*out.rglob("summary.json"), *out.rglob("plan.json")])


def owned_marked_processes(owners: set[int]) -> list[int]:
    found = []
    for pid, token in marked_processes().items():
        parsed = parse_token(token)
        if parsed is not None and parsed[0] in owners:
            found.append(pid)
    return found


def test_kill_anywhere_then_clean_start(tmp_path: Path) -> None:
    print(f"\nkill-anywhere seed {SEED} (replay: STAMPEDE_KILL_SEED={SEED})")
    rngs = {name: random.Random(f"{SEED}:{name}") for name in COMMANDS}
    with ThreadPoolExecutor(len(COMMANDS)) as pool:
        futures = [
            pool.submit(run_command_trials, name, rngs[name], tmp_path / name) for name in COMMANDS
        ]
        trials = [t for f in futures for t in f.result()]

    for t in trials:
        print(f"  {t.command:8} {t.sig.name:8} at {t.moment_s:5.2f} s -> exit {t.returncode}")
        context = f"seed {SEED}: {t.command} {t.sig.name} at {t.moment_s} s"
        # Nothing the harness started outlives it, not even after SIGKILL (parent-death signal).
        assert not alive(t.children), f"{context}: left running {alive(t.children)}"
        if t.sig == signal.SIGKILL:
            assert t.returncode == -signal.SIGKILL, context
        else:  # the one teardown path: exit 128 + signal, unless the run had already ended
            assert t.returncode in (0, 1, 128 + t.sig), f"{context}: exit {t.returncode}"
            assert "Traceback" not in t.stderr, f"{context}:\n{t.stderr}"
            assert not stampede_cgroups({t.pid}), f"{context}: cgroups left"

    # One clean start sweeps what the SIGKILLed harnesses left (their cgroups) and runs.
    clean = tmp_path / "clean"
    done = subprocess.run(
        [sys.executable, "-m", "stampede", "compare", "--duration", "1", "--variants", "future",
         "--users", "2", "--no-progress", "--no-plots", "--out", str(clean)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    owners = {t.pid for t in trials}
    assert not stampede_cgroups(owners), f"seed {SEED}: cgroups left after the clean start"
    marked = owned_marked_processes(owners)
    assert not marked, f"seed {SEED}: processes of dead harnesses still running: {marked}"

    for t in trials:
        out = tmp_path / t.command / t.sig.name
        for path in result_files(out):
            document = json.loads(path.read_text())  # parses, however its run ended
            if t.returncode in (-signal.SIGKILL, 128 + t.sig):
                assert document["complete"] is False, f"{path}: a killed run says complete"
        latest = out / "latest"  # `latest` only ever names a completed run
        if latest.exists():
            assert json.loads((latest / "summary.json").read_text())["complete"] is True
    summary = json.loads((clean / "latest" / "summary.json").read_text())
    assert summary["complete"] is True
