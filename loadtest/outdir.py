"""`--out`: a results directory checked before anything starts, without creating it.

A run creates `<out>/<run id>/...` later; a name the file system cannot hold (a component over
NAME_MAX, a path over PATH_MAX), a parent that is a file, or a directory we may not write would
otherwise fail mid-run with a traceback. Nothing is created here: a refused value leaves
nothing behind.
"""

from __future__ import annotations

import errno
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
    existing, missing = full, []
    while True:
        try:
            os.stat(existing)
            break
        except FileNotFoundError:
            missing.append(existing.name)
            existing = existing.parent
        except OSError as exc:
            reason = "a name in it is too long" if exc.errno == errno.ENAMETOOLONG else None
            raise ValueError(f"{flag} {text!r}: {reason or exc.strerror}") from None
    if not existing.is_dir():
        what = "exists and is not a directory" if not missing else f"{existing} is not a directory"
        raise ValueError(f"{flag} {text!r}: {what}")
    name_max = _limit(existing, "PC_NAME_MAX", 255)
    if too_long := [n for n in missing if len(os.fsencode(n)) > name_max]:
        raise ValueError(
            f"{flag} {text!r}: name {too_long[0][:20]!r}... is longer than {name_max} bytes"
        )
    path_max = _limit(existing, "PC_PATH_MAX", 4096)
    if len(os.fsencode(str(full))) + RUN_DIR_RESERVE > path_max:
        raise ValueError(f"{flag} {text!r}: path too long (the limit is {path_max} bytes)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {text!r}: {existing} is not writable")
    return path
