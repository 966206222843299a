"""Live progress of a compare run: a rich table on a terminal, plain lines otherwise.

The plain form prints at most one line per variant every PLAIN_EVERY_S, so CI logs and pipes
stay readable; both forms show variant, elapsed, rps, failures, threads, waiters, wedged.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

PLAIN_EVERY_S = 2.0
COLUMNS = ("variant", "elapsed", "rps", "failures", "threads", "waiters", "wedged")


def _cells(row: dict[str, Any]) -> dict[str, str]:
    def show(key: str, fmt: str = "{}") -> str:
        value = row.get(key)
        return "-" if value is None else fmt.format(value)

    wedged = "WEDGED" if row.get("wedged") else ("stalled" if row.get("stalled") else "no")
    return {
        "variant": str(row.get("variant", "?")),
        "elapsed": show("t_s", "{:.1f}s"),
        "rps": show("client_rps", "{:.0f}"),
        "failures": show("client_failures"),
        "threads": show("threads"),
        "waiters": show("waiters"),
        "wedged": wedged,
    }


class ProgressDisplay:
    """Call `update(sample_row)` per sample; use as a context manager around the run."""

    def __init__(self, title: str, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.title = title
        self.stream = stream or sys.stderr
        self.console = Console(file=self.stream)
        self.live = self.console.is_terminal if live is None else live
        self.rows: dict[str, dict[str, str]] = {}
        self._live: Live | None = None
        self._last_plain: dict[str, float] = {}

    def __enter__(self) -> ProgressDisplay:
        if self.live:
            self._live = Live(self._table(), console=self.console, refresh_per_second=4)
            self._live.__enter__()
        else:
            print(f"{self.title}", file=self.stream, flush=True)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(None, None, None)
            self._live = None

    def update(self, row: dict[str, Any]) -> None:
        cells = _cells(row)
        # Keep the last known value where this sample lacks one (e.g. Locust already gone).
        previous = self.rows.get(cells["variant"], {})
        cells = {k: previous[k] if v == "-" and k in previous else v for k, v in cells.items()}
        self.rows[cells["variant"]] = cells
        if self._live is not None:
            self._live.update(self._table())
            return
        now = time.monotonic()
        if now - self._last_plain.get(cells["variant"], -PLAIN_EVERY_S) >= PLAIN_EVERY_S:
            self._last_plain[cells["variant"]] = now
            self.line(" ".join(f"{k}={cells[k]}" for k in COLUMNS))

    def line(self, text: str) -> None:
        """A one-off message (variant started/ended) that survives the live table."""
        if self._live is not None:
            self._live.console.print(text)
        else:
            print(text, file=self.stream, flush=True)

    def _table(self) -> Table:
        table = Table(title=self.title, expand=False)
        for column in COLUMNS:
            table.add_column(column, justify="left" if column == "variant" else "right")
        for cells in self.rows.values():
            style = "bold red" if cells["wedged"] == "WEDGED" else None
            table.add_row(*(cells[c] for c in COLUMNS), style=style)
        return table
