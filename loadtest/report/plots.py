"""The report's figures: one PNG per signal, variants side by side on shared axes.

Side by side (one panel per variant, shared x and y) rather than overlaid, so a flat line at
zero for one variant is as visible as the climb of the other; the wedge moment is a red line.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stampede.loadtest.report.results import atomic_write_bytes
from stampede.loadtest.verdict.figures import FIGURES, INTENT_FIGURES, Figure

WEDGE_COLOR = "#d62728"
# Enough colours that no figure repeats one (the loop-error figure has a line per kind).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")


def _points(rows: list[dict[str, Any]], column: str, scale: float) -> tuple[list, list]:
    xs, ys = [], []
    for row in rows:
        x, y = row.get("t_s"), row.get(column)
        if isinstance(x, int | float) and isinstance(y, int | float):
            xs.append(x)
            ys.append(y * scale)
    return xs, ys


def _draw(figure: Figure, variants: dict[str, dict[str, Any]]) -> bytes:
    # matplotlib on first draw, not at import: every `stampede compare` imports this module,
    # and --help or a usage error should not pay for pyplot.
    from stampede.loadtest.report.mpl import plt

    names = list(variants)
    fig, axes = plt.subplots(
        1, len(names), figsize=(5.2 * len(names), 3.4), sharex=True, sharey=True, squeeze=False
    )
    panels = zip(axes[0], names, strict=True)
    tops = [_panel(ax, figure, name, variants[name]) for ax, name in panels]
    # Limits once, after every panel drew: with shared axes a per-panel set_ylim would freeze
    # the scale at the first panel's data.
    axes[0][0].set_ylim(0, max([*tops, 1.0]) * 1.12)
    axes[0][0].set_xlim(left=0)
    axes[0][0].set_ylabel(figure.ylabel)
    fig.suptitle(figure.title)
    return png_bytes(fig, dpi=100)


def png_bytes(fig: Any, dpi: float | str = "figure") -> bytes:
    """A pyplot figure laid out and rendered as PNG bytes, then closed (pyplot keeps every
    figure it made until then). Every report's plots go through here: compare's and the plans'."""
    from stampede.loadtest.report.mpl import plt  # loaded already: the caller drew `fig` with it

    fig.tight_layout()
    buffer = io.BytesIO()
    # No "Software" text chunk: the reports embed these and must not carry any URL.
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def save_png(fig: Any, path: Path) -> None:
    """png_bytes(fig) written to `path` atomically."""
    atomic_write_bytes(path, png_bytes(fig))


def _panel(ax: Any, figure: Figure, name: str, data: dict[str, Any]) -> float:
    """Draw one variant's panel; returns the highest y value drawn."""
    top = 0.0
    for i, series in enumerate(figure.series):
        xs, ys = _points(data.get(series.source, []), series.column, series.scale)
        ax.plot(xs, ys, label=series.label, color=PALETTE[i % len(PALETTE)], linewidth=1.6)
        top = max([top, *ys])
    limit = data.get(figure.reference) if figure.reference else None
    if isinstance(limit, int | float):
        label = f"{figure.reference_label} {limit:g}"
        ax.axhline(limit, color="grey", linestyle="--", linewidth=1, label=label)
        top = max(top, float(limit))
    wedged_at = data.get("wedged_at_s")
    title = name
    if isinstance(wedged_at, int | float):
        ax.axvline(wedged_at, color=WEDGE_COLOR, linestyle=":", linewidth=2, label="wedged")
        title += f"  (wedged at {wedged_at:.1f} s)"
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("seconds since load start")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return top


def figures_for(variants: dict[str, dict[str, Any]]) -> tuple[Figure, ...]:
    """The standard figures these variants get: scenarios without intents (stream, session)
    get no empty intent panels."""
    has_intents = any(data.get("intents") for data in variants.values())
    return FIGURES if has_intents else tuple(f for f in FIGURES if f not in INTENT_FIGURES)


def make_plots(
    variants: dict[str, dict[str, Any]],
    plots_dir: Path,
    extra: Sequence[Figure] = (),
    until: float | None = None,
) -> list[Path]:
    """The standard FIGURES, then a scenario's `extra` ones, drawn the same way; returns the
    paths in that order. variants: name -> {"samples", "history", "wedged_at_s", and whatever
    keys the figures' references name, e.g. "executor_max_workers"}.

    `until` (monotonic) keeps a run's deadline: a figure that would not be done by then (as
    long as the slowest one so far took) is not begun. The scenario's own figures, the evidence
    for its verdict, are drawn first; the caller tells the skipped ones from the paths."""
    standard = figures_for(variants)
    names = [f.filename for f in (*standard, *extra)]
    if len(set(names)) != len(names):  # one would silently overwrite the other
        raise ValueError(f"figure file names collide: {sorted(names)}")
    written: dict[str, Path] = {}
    slowest = 0.0
    for figure in (*extra, *standard):
        started = time.monotonic()
        if until is not None and started + slowest > until:
            break
        path = plots_dir / figure.filename
        atomic_write_bytes(path, _draw(figure, variants))
        written[figure.filename] = path
        slowest = max(slowest, time.monotonic() - started)
    return [written[name] for name in names if name in written]
