"""Gunther's Universal Scalability Law fitted to measured throughput, and when not to quote it.

    X(N) = λN / (1 + σ(N−1) + κN(N−1))

σ is contention (the serial share: queueing on a lock or a pool), κ coherency (the pairwise
cost that makes throughput fall again past N* = sqrt((1−σ)/κ)), λ the throughput of one client.

The fit is non-linear least squares by variable projection: for fixed (σ, κ) the best λ is
linear, Σxg/Σg² with g = N/(1+σ(N−1)+κN(N−1)), so only (σ, κ) are searched, on a grid over
σ ∈ [0, 1] and κ ∈ {0} ∪ [1e-8, 1], zoomed three times around the best cell. A grid finds the
global minimum of this two-parameter problem where Gauss-Newton from a guess can stall, and it
needs numpy only. Pure functions, no I/O: `stampede plan --target` and its tests call them.

A fit is not quoted when it does not describe the data: R² < 0.9, fewer than 4 concurrency
levels, or a cliff (goodput falling by more than half between neighbouring levels, as a wedge
does), which no smooth USL curve can follow.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

import numpy as np

MIN_R2 = 0.9
MIN_POINTS = 4
CLIFF_DROP = 0.5  # a fall of more than this share of the peak between neighbouring levels
_ZOOMS = 3


@dataclass(frozen=True)
class USLFit:
    sigma: float | None
    kappa: float | None
    lam: float | None
    r2: float | None
    n_star: float | None  # None: κ = 0, throughput never falls again
    predicted_peak: float | None  # X(N*), or the asymptote λ/σ when κ = 0
    fits: bool
    reason: str  # why it does not fit ("" when it does)
    points: int

    def predict(self, n: float) -> float | None:
        if self.sigma is None or self.kappa is None or self.lam is None:
            return None
        return usl(np.array([float(n)]), self.lam, self.sigma, self.kappa)[0].item()

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def usl(n: np.ndarray, lam: float, sigma: float, kappa: float) -> np.ndarray:
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def cliff(ns: list[float], xs: list[float]) -> str:
    """A sudden fall in the data (sorted by N), or ""."""
    pairs = sorted(zip(ns, xs, strict=True))
    peak = max((x for _, x in pairs), default=0.0)
    for (n0, x0), (n1, x1) in itertools.pairwise(pairs):
        if peak > 0 and x0 - x1 > CLIFF_DROP * peak:
            return f"goodput falls from {x0:.3g}/s at N={n0:g} to {x1:.3g}/s at N={n1:g}"
    return ""


def _grid_fit(
    n: np.ndarray, x: np.ndarray, sigmas: np.ndarray, kappas: np.ndarray
) -> tuple[float, float, float, float]:
    s, k = np.meshgrid(sigmas, kappas, indexing="ij")
    g = n / (1 + s[..., None] * (n - 1) + k[..., None] * n * (n - 1))
    lam = (g * x).sum(-1) / (g * g).sum(-1)
    sse = ((lam[..., None] * g - x) ** 2).sum(-1)
    i, j = np.unravel_index(int(np.argmin(sse)), sse.shape)
    return float(sigmas[i]), float(kappas[j]), float(lam[i, j]), float(sse[i, j])


def fit_usl(ns: list[float], xs: list[float]) -> USLFit:
    """Fit X(N) to measured (concurrency, throughput) pairs; see the module docstring."""
    points = len(set(ns))
    if points < MIN_POINTS or len(ns) != len(xs):
        return _unfit(f"{points} concurrency levels, the fit needs {MIN_POINTS}", points)
    n, x = np.asarray(ns, float), np.asarray(xs, float)
    if not np.all(np.isfinite(x)) or float(x.max()) <= 0:
        return _unfit("no goodput measured", points)
    sigmas = np.linspace(0.0, 1.0, 101)
    kappas = np.concatenate([[0.0], np.logspace(-8, 0, 81)])
    sigma, kappa, lam, sse = _grid_fit(n, x, sigmas, kappas)
    kstep = 0.1  # decades between κ grid points
    for _ in range(_ZOOMS):
        ds = sigmas[1] - sigmas[0]
        sigmas = np.linspace(max(0.0, sigma - ds), min(1.0, sigma + ds), 41)
        if kappa == 0.0:  # also try κ below the coarse grid's smallest
            kappas = np.concatenate([[0.0], np.logspace(-11, -8, 31)])
        else:
            lk = math.log10(kappa)
            kappas = np.concatenate([[0.0], np.logspace(lk - kstep, lk + kstep, 41)])
            kstep /= 20
        sigma, kappa, lam, sse = _grid_fit(n, x, sigmas, kappas)
    sst = float(((x - x.mean()) ** 2).sum())
    r2 = 1.0 - sse / sst if sst > 0 else (1.0 if sse == 0 else 0.0)
    n_star = math.sqrt((1 - sigma) / kappa) if kappa > 0 else None
    if n_star is not None:
        peak = float(usl(np.array([n_star]), lam, sigma, kappa)[0])
    else:
        peak = lam / sigma if sigma > 0 else None
    reason = cliff(ns, xs)
    if not reason and r2 < MIN_R2:
        reason = f"R² {r2:.3f} < {MIN_R2}"
    return USLFit(
        sigma=round(sigma, 6),
        kappa=float(f"{kappa:.4g}"),
        lam=round(lam, 4),
        r2=round(r2, 4),
        n_star=None if n_star is None else round(n_star, 2),
        predicted_peak=None if peak is None else round(peak, 3),
        fits=not reason,
        reason=reason,
        points=points,
    )


def _unfit(reason: str, points: int) -> USLFit:
    return USLFit(None, None, None, None, None, None, False, reason, points)
