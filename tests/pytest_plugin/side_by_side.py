"""Who catches what: the hazard cases (cases/case_hazards.py) under plain pytest, pyleak,
blockbuster and `pytest --stampede`, each run through pytest in a subprocess.

    python -m tests.pytest_plugin.side_by_side      # prints the table (markdown)

Each tool runs as its users adopt it: pyleak's `no_leaks` marker on every test (tasks, threads,
blocking), blockbuster as an autouse fixture (as starlette and anyio use it), Stampede as
`--stampede`. A case is caught when its test fails under the tool; the outcomes come from a
JUnit XML report, not from the output's wording.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

CASES = Path(__file__).parent / "cases"
TOOLS: dict[str, list[str]] = {
    "plain pytest": [],
    "pyleak": ["-p", "with_pyleak"],
    "blockbuster": ["-p", "with_blockbuster"],
    "stampede": ["--stampede"],
}
ROWS = {
    "test_to_thread_wedge": "to_thread idempotency wedge",
    "test_leaked_task": "leaked task",
    "test_blocking_call_in_a_coroutine": "blocking call in a coroutine",
    "test_cross_task_cancel_scope": "cross-task cancel scope",
    "test_cancelled_session_leaks": "cancelled session that leaks",
    "test_healthy_control": "healthy control",
}


def run_tool(tool: str, workdir: Path, timeout: float = 120) -> dict[str, str]:
    """Each case's outcome under `tool`: "passed" or "failed" (caught)."""
    here = workdir / tool.replace(" ", "-")
    shutil.copytree(CASES, here)
    report = here / "junit.xml"
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "case_hazards.py"]
    argv += [*TOOLS[tool], f"--junitxml={report}"]
    env = {**os.environ, "PYTHONPATH": str(here)}
    proc = subprocess.run(argv, cwd=here, env=env, capture_output=True, text=True, timeout=timeout)
    if not report.exists():
        raise RuntimeError(f"{tool}: pytest wrote no report:\n{proc.stdout}\n{proc.stderr}")
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        outcomes[case.get("name", "?")] = "failed" if failed else "passed"
    return outcomes


def table(results: dict[str, dict[str, str]]) -> str:
    tools = list(results)
    lines = [
        "| case | " + " | ".join(tools) + " |",
        "|---|" + "---|" * len(tools),
    ]
    for test, label in ROWS.items():
        marks = []
        for tool in tools:
            failed = results[tool].get(test) == "failed"
            if test == "test_healthy_control":
                marks.append("false positive" if failed else "passes")
            else:
                marks.append("caught" if failed else "missed")
        lines.append(f"| {label} | " + " | ".join(marks) + " |")
    return "\n".join(lines)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = {tool: run_tool(tool, Path(tmp)) for tool in TOOLS}
    print(table(results))


if __name__ == "__main__":
    main()
