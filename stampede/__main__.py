"""`python -m stampede ...`: the same as the `stampede` console script."""

from stampede.loadtest.cli import main

raise SystemExit(main())
