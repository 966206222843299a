"""`python -m stampede.server [flags]`: `stampede serve` without loading the harness."""

from stampede.server.cli import main

raise SystemExit(main())
