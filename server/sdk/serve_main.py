"""`python -m server.sdk.serve_main [flags]`: `stampede serve` for an SDK variant's environment.

A `stampede compare --sdk` variant runs in a lean venv (loadtest/sdk_envs.py) that holds the
server's requirements and one SDK release, not the load-test tooling; this entry point takes
the same flags as `stampede serve` while importing only what the server needs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from loadtest.cli import EXIT_USAGE, add_settings_flags, settings_from
from server.sdk import SdkMissingError
from server.settings import ServerSettings

PROG = "stampede serve"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    add_settings_flags(parser, ServerSettings)
    settings = settings_from(parser.parse_args(argv), ServerSettings, PROG)
    from server.serve import serve

    try:
        serve(settings)
    except SdkMissingError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
