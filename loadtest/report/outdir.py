"""`--out`: a results directory checked before anything starts, without creating it.

A run creates `<out>/<run id>/...` later; a name the file system cannot hold (a component over
NAME_MAX, a path over PATH_MAX), a parent that is a file, or a directory we may not write would
otherwise fail mid-run with a traceback. Nothing is created here: a refused value leaves
nothing behind.
"""

from __future__ import annotations

import os
from pathlib import Path

RUN_DIR_RESERVE = 128  # room for "<run id>/locust/<variant>_stats_history.csv" under --out


def _limit(where: Path, name: str, default: int) -> int:
    try:
        return int(os.pathconf(where, name))
    except (OSError, ValueError):
        return default


def check_out_dir(flag: str, text: str) -> Path:
    """The results directory `text`, or ValueError naming flag, value and what is wrong."""
    if not text or "\0" in text:
        raise ValueError(f"{flag} {text!r}: not a usable path")
    path = Path(text)
    full = path.absolute()
    name_max = _limit(Path("/"), "PC_NAME_MAX", 255)
    if any(len(os.fsencode(part)) > name_max for part in full.parts):
        raise ValueError(f"{flag} {text!r}: a name in it is longer than {name_max} bytes")
    path_max = _limit(Path("/"), "PC_PATH_MAX", 4096)
    if len(os.fsencode(str(full))) + RUN_DIR_RESERVE > path_max:
        raise ValueError(f"{flag} {text!r}: path too long (the limit is {path_max} bytes)")
    existing = full
    while not os.path.lexists(existing):  # the deepest part that exists (lexists never raises)
        existing = existing.parent
    if not existing.is_dir():
        what = "exists" if existing == full else f"{existing} exists"
        raise ValueError(f"{flag} {text!r}: {what} and is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {text!r}: {existing} is not writable")
    return path
