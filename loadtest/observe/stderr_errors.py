"""Loop errors of a server we cannot change, read from its stderr as it runs.

asyncio's default exception handler prints a report as a message line, then its context lines
(`future: <Task ...>`, `task: <Task pending ...>`, `handle: <Handle ...>`), then maybe a
traceback. uvicorn prints an exception that escapes the app as "Exception in ASGI application"
and a traceback. Each report is counted once, however many lines it spans, into the probe's
kinds: a cancel-scope error anywhere in the report is `cancel_scope`; otherwise the message
decides (`task_exception_never_retrieved`, `task_destroyed_pending`, else `other`). An ASGI
traceback counts only when it carries a hazard signature: an ordinary 500 is not a loop error.

A report is recognised by its shape, not by words alone: a log line that merely says "Task was
destroyed" has no context line after it and counts as nothing.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from stampede.probe.loop_errors import CANCEL_SCOPE_TEXT

CONTEXT_LINE = re.compile(r"^(future|task|handle|protocol|transport|socket|source_traceback): ")
ASGI_START = "Exception in ASGI application"
# A traceback's exception line: "pkg.Name: message" or "Name" alone. Log lines are not: their
# level is followed by several spaces (uvicorn) or no space at all ("INFO:app:...").
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(: (?! )|$)")
CHAIN_LINES = (
    "Traceback (most recent call last)",
    "During handling of the above exception",
    "The above exception was the direct cause",
    "Exception Group Traceback",
)
QUIET_S = 0.5  # a report with no new line for this long is complete
MAX_REPORT_LINES = 2000  # a runaway traceback is still one report


@dataclass
class _Report:
    message: str
    asgi: bool
    lines: list[str] = field(default_factory=list)

    def kind(self) -> str | None:
        if any(CANCEL_SCOPE_TEXT in line for line in [self.message, *self.lines]):
            return "cancel_scope"
        if self.asgi:
            return None
        if "Task was destroyed but it is pending" in self.message:
            return "task_destroyed_pending"
        if "Task exception was never retrieved" in self.message:
            return "task_exception_never_retrieved"
        return "other"


def _continues(line: str) -> bool:
    """Whether a line belongs to the report above it (traceback, context, chained causes)."""
    if not line.strip() or line[0] in " \t|+":
        return True
    if CONTEXT_LINE.match(line) or EXCEPTION_LINE.match(line):
        return True
    return line.startswith(CHAIN_LINES)


class StderrClassifier:
    """Feed it lines (or let it tail a file); `counts()` are the reports classified so far."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._candidate: str | None = None  # the last line that could open a loop report
        self._open: _Report | None = None
        self._partial = ""
        self._offset = 0

    def feed(self, line: str) -> None:
        line = line.rstrip("\r\n")
        with self._lock:
            if self._open is not None and _continues(line):
                if len(self._open.lines) < MAX_REPORT_LINES:
                    self._open.lines.append(line)
                return
            if self._open is None and self._candidate is not None and CONTEXT_LINE.match(line):
                self._open = _Report(self._candidate, asgi=False, lines=[line])
                self._candidate = None
                return
            self._close()
            if line.rstrip().endswith(ASGI_START):
                self._open = _Report(line, asgi=True)
                self._candidate = None
            else:
                self._candidate = line

    def _close(self) -> None:
        if self._open is not None:
            kind = self._open.kind()
            if kind is not None:
                self._counts[kind] += 1
            self._open = None

    def finish(self) -> None:
        """The stream ended (or went quiet): the report being read is complete."""
        with self._lock:
            self._close()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def read_new(self, path: Path, final: bool = False) -> None:
        """Classify what was appended to `path` since the last call; `final` closes the last
        report (the process has exited or the run is over)."""
        try:
            with path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except OSError:
            data = b""
        self._offset += len(data)
        text = self._partial + data.decode("utf-8", errors="replace")
        *lines, self._partial = text.split("\n")
        for line in lines:
            self.feed(line)
        if final:
            if self._partial:
                self.feed(self._partial)
                self._partial = ""
            self.finish()
        elif not data and not self._partial:
            self.finish()  # quiet since the last read: nothing more will join the report
