"""The USL fit on synthetic data: it recovers known parameters, and refuses data it cannot fit."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from stampede.loadtest.verdict.usl import cliff, fit_usl, usl

LEVELS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]


def _curve(lam: float, sigma: float, kappa: float, noise: float = 0.0, seed: int = 1) -> list:
    rng = random.Random(seed)
    exact = usl(np.asarray(LEVELS, float), lam, sigma, kappa)
    return [float(x) * (1 + rng.uniform(-noise, noise)) for x in exact]


@pytest.mark.parametrize(
    ("lam", "sigma", "kappa"),
    [(10.0, 0.05, 0.001), (100.0, 0.2, 0.0005), (3.0, 0.02, 0.0)],
)
def test_recovers_known_parameters(lam: float, sigma: float, kappa: float) -> None:
    fit = fit_usl(LEVELS, _curve(lam, sigma, kappa))
    assert fit.fits and fit.r2 is not None and fit.r2 > 0.999
    assert fit.lam == pytest.approx(lam, rel=0.02)
    assert fit.sigma == pytest.approx(sigma, abs=0.005)
    assert fit.kappa == pytest.approx(kappa, rel=0.1, abs=2e-5)
    if kappa:
        expected = math.sqrt((1 - sigma) / kappa)
        assert fit.n_star == pytest.approx(expected, rel=0.1)
        assert fit.predicted_peak == pytest.approx(
            float(usl(np.array([expected]), lam, sigma, kappa)[0]), rel=0.02
        )
    else:
        assert fit.n_star is None
        assert fit.predicted_peak == pytest.approx(lam / sigma, rel=0.1)


def test_noisy_data_still_fit_with_r2_below_one() -> None:
    fit = fit_usl(LEVELS, _curve(20.0, 0.1, 0.002, noise=0.05))
    assert fit.fits
    assert 0.9 <= fit.r2 < 0.999
    assert fit.predict(1) == pytest.approx(fit.lam / 1, rel=1e-6)


def test_a_bad_fit_is_not_quoted() -> None:
    # Goodput that zig-zags with concurrency (no cliff): no USL curve follows it.
    xs = [30.0, 50.0, 28.0, 52.0, 30.0, 50.0, 29.0, 51.0, 30.0, 52.0, 28.0, 50.0]
    fit = fit_usl(LEVELS, xs)
    assert not fit.fits
    assert fit.r2 is not None and fit.r2 < 0.9
    assert "R²" in fit.reason


def test_a_cliff_is_not_quoted_even_when_r2_would_pass() -> None:
    xs = _curve(10.0, 0.05, 0.0)
    xs[-1] = 0.0  # a wedge at the top level
    assert cliff(LEVELS, xs)
    fit = fit_usl(LEVELS, xs)
    assert not fit.fits and "falls from" in fit.reason


def test_too_few_levels_and_no_goodput() -> None:
    assert not fit_usl([1, 2, 4], [1.0, 2.0, 3.0]).fits
    assert "needs 4" in fit_usl([1, 2, 4], [1.0, 2.0, 3.0]).reason
    none = fit_usl(LEVELS, [0.0] * len(LEVELS))
    assert not none.fits and none.sigma is None and none.predict(4) is None
