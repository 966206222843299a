"""The storm goes to loopback only, unless `--allow-remote` says where else it may go.

A retry storm is a denial-of-service tool: aimed at the wrong address by a typo, a copied
command or the web UI's host field, it hurts someone. So `--host` and every `--targets` URL
must be a loopback address (127.0.0.0/8, ::1, localhost) unless the user says otherwise:

- `--allow-remote` (no value): any host;
- `--allow-remote=name1,name2`: loopback plus exactly these host names or addresses. Compose
  uses this with its own service names, so its storm can reach its servers and nothing else,
  even when someone re-aims it from the web UI.

Checked at start-up (one line on stderr, exit 2) and again by every user when it is created,
which covers a host or targets changed in the web UI and workers taking options from a master
(a refused user stops the test with the reason logged); both live in users/base.py. This module
imports no Locust, so the harness and tests can use it without gevent's monkey-patching.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from stampede.loadtest.storm.users.arguments import ANY_HOST, parse_targets


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost: where it resolves is not ours to trust


def refused_urls(urls: Iterable[str], allow_remote: str) -> str | None:
    """Why the first URL is refused (None if every one may be stormed)."""
    allowed = {h.strip().lower() for h in (allow_remote or "").split(",") if h.strip()}
    for url in urls:
        host = urlsplit(url).hostname
        if host is None:
            return f"{url!r} names no host"
        if is_loopback(host) or ANY_HOST in allowed or host.lower() in allowed:
            continue
        return (
            f"{url!r}: {host} is not a loopback address; pass --allow-remote={host} "
            "(or --allow-remote for any host) to storm it"
        )
    return None


def storm_urls(parsed: Any, host: str | None) -> list[str]:
    """The URLs the storm would hit: --host and every --targets URL."""
    urls = [host] if host else []
    urls += [url for _, url in parse_targets(str(getattr(parsed, "targets", "") or ""))]
    return urls
