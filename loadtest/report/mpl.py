"""pyplot on the Agg backend, chosen in one place before pyplot loads.

Every plot Stampede draws is a file (no display on CI or over ssh), so the backend is Agg;
drawing code takes `plt` from here rather than importing matplotlib.pyplot itself. Importing
this loads pyplot (about a second), so modules that `stampede --help` imports reach it only
when they draw.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

__all__ = ["plt"]
