"""The README's main command exactly as a new user types it, from the repository root.

`stampede compare` with the default relative `--out results` (only shorter): every headline
figure of the report must be there for both variants. Tests that pass absolute temp paths
never saw Locust's CSVs land in results/<run>/results/<run>/locust/ and the latency go blank.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from stampede.loadtest.commands.compare.report import HEADLINE_ROWS

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
STAMPEDE = Path(sys.executable).with_name("stampede")
COMMAND = "stampede compare"  # as the README's main-job section has it


def summary_table(markdown: str) -> tuple[list[str], dict[str, list[str]]]:
    """(variants, label -> cells) of the report's Summary table."""
    section = markdown.split("## Summary", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    return cells[0][1:], {row[0]: row[1:] for row in cells[2:]}


def test_readme_command_from_the_repository_root() -> None:
    assert f"{COMMAND}    " in (ROOT / "README.md").read_text()
    results = ROOT / "results"
    links = {n: os.readlink(results / n) for n in ("latest", "latest-idempotency")
             if (results / n).is_symlink()}  # fmt: skip
    done = subprocess.run(
        [str(STAMPEDE), *COMMAND.split()[1:], "--duration", "3", "--no-progress"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    run_dir = (results / "latest").resolve()
    try:
        assert done.returncode == 0, done.stdout + done.stderr
        assert run_dir.parent == results.resolve()
        assert not (run_dir / "results").exists(), "Locust nested the run inside itself"
        for variant in ("to_thread", "future"):  # the seed's pre-fix waiter and its fix
            assert (run_dir / "locust" / f"{variant}_stats.csv").exists()
            assert (run_dir / "locust" / f"{variant}_intents.jsonl").exists()
        variants, rows = summary_table((run_dir / "report.md").read_text())
        assert variants[:2] == ["to_thread", "future"], variants
        wanted = [label for label, _ in HEADLINE_ROWS]
        wanted += ["peak workers parked by waiters", "attempt latency p50 (ms)"]
        wanted += ["attempt latency p99 (ms)", "requests stuck in flight at the end"]
        for label in wanted:
            assert label in rows, label
            # The seed's pre-fix waiter and the fix: the README's story. (A later variant may be
            # squeezed by the run's budget on a loaded machine; its cells may then be "-".)
            assert "-" not in rows[label][:2], (label, rows[label])
        to_thread, future = rows["intents succeeded"][:2]
        assert to_thread.startswith("0 of ") and not future.startswith("0 of "), (to_thread, future)
        assert rows["intent latency p99 (ms)"][0] == "none answered"
    finally:
        if run_dir.parent == results.resolve() and run_dir.name != "results":
            shutil.rmtree(run_dir, ignore_errors=True)
        for name, target in links.items():  # put the user's latest links back
            (results / name).unlink(missing_ok=True)
            (results / name).symlink_to(target)
