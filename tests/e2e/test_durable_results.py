"""Results survive whatever ends the run: timeseries.csv grows while the run samples, a second
run refuses while the first holds the run lock, a SIGKILL leaves a parsable summary marked
incomplete and `latest` untouched, and a full disk is one line naming the path."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow

QUICK = ["--duration", "3", "--variants", "future", "--users", "2", "--no-progress", "--no-plots"]


def compare(out: Path, *extra: str, **popen: object) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "stampede", "compare", *QUICK, "--out", str(out), *extra]
    return subprocess.Popen(argv, text=True, **popen)  # type: ignore[call-overload]


def data_rows(path: Path) -> int:
    with path.open(newline="") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def test_samples_are_on_disk_as_they_come_and_a_killed_run_keeps_them(tmp_path: Path) -> None:
    out = tmp_path / "results"
    first = compare(out, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # Plain progress lines come once per sample: wait for the second one.
        seen = 0
        for line in first.stdout:  # type: ignore[union-attr]
            seen += line.startswith("variant=future elapsed=")
            if seen == 2:
                break
        [run_dir] = [p for p in out.iterdir() if p.is_dir()]
        during = data_rows(run_dir / "timeseries.csv")
        assert during >= 1, "timeseries.csv holds no sample while the run samples"
        assert not (out / "latest").exists(), "latest names a run that has not completed"

        second = compare(out, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1, err
        assert err.count("\n") == 1 and f"pid {first.pid}" in err and "run lock" in err, err
        assert [p for p in out.iterdir() if p.is_dir()] == [run_dir], "the refused run wrote"

        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
        first.wait()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["complete"] is False
    assert data_rows(run_dir / "timeseries.csv") >= during
    assert not (out / "latest").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tiny tmpfs needs root")
def test_a_full_disk_is_one_line_naming_the_path(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    # Room for the run's first files, not for its logs and samples.
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", str(disk)])
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        run = compare(
            disk / "results", "--duration", "1", stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        harness = psutil.Process(run.pid)
        children: set[psutil.Process] = set()
        while run.poll() is None:
            with contextlib.suppress(psutil.Error):
                children |= set(harness.children(recursive=True))
            time.sleep(0.1)
        _, err = run.communicate(timeout=120)
    finally:
        subprocess.run(["umount", "-l", str(disk)])
    assert run.returncode == 1, err
    assert "Traceback" not in err, err
    [line] = [ln for ln in err.splitlines() if "error:" in ln]
    assert "No space left on device" in line and str(disk) in line, line
    assert len(children) >= 1, "the disk filled before the run started anything"
    alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"left running: {[c.cmdline() for c in alive]}"
