"""`stampede healthcheck [URL]`: exit 0 when URL answers 2xx, else 1 with one line saying why.

What the image's and the compose file's container healthchecks run. A command of its own,
rather than `python -c "..."`, because podman's Docker-compatible API splits healthcheck
arguments at spaces (containers/podman#26519), which breaks any inline script; this argv has
none. Standard library only and a bounded timeout, so a wedged server fails the check instead
of hanging it.
"""

from __future__ import annotations

import argparse
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from stampede.loadtest import flags
from stampede.loadtest.commands import HELP
from stampede.loadtest.errors import HarnessError, UsageError

DEFAULT_TIMEOUT_S = 2.0


def default_url() -> str:
    # The server's own port variable, as `stampede serve` reads it.
    return f"http://127.0.0.1:{os.environ.get('STAMPEDE_PORT', '8000')}/healthz"


def check(url: str, timeout: float) -> None:
    """Raises HarnessError (one line) unless a GET of url answers 2xx within timeout."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{url!r}: not an http(s) URL with a host")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        raise HarnessError(f"{url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise HarnessError(f"{url}: {reason}") from None
    if not 200 <= status < 300:
        raise HarnessError(f"{url}: HTTP {status}")


def cmd_healthcheck(args: argparse.Namespace) -> int:
    check(args.url or default_url(), args.timeout)
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("healthcheck", help=HELP["healthcheck"])
    parser.add_argument(
        "url",
        nargs="?",
        help="what to GET (default: http://127.0.0.1:$STAMPEDE_PORT/healthz, port 8000)",
    )
    parser.add_argument(
        "--timeout",
        type=flags.duration(60, low=0.1, open_low=False),
        default=DEFAULT_TIMEOUT_S,
        help=f"give up after this long (0.1 s to 60 s; default {DEFAULT_TIMEOUT_S:g} s)",
    )
    parser.set_defaults(func=cmd_healthcheck)
