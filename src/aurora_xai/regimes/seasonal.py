"""Seasonal diagnostics: fits of a series to the annual harmonics of the day of year."""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["HarmonicFit", "annual_harmonic_fit"]

DAYS_PER_YEAR = 365.2425


@dataclasses.dataclass(frozen=True)
class HarmonicFit:
    """Least-squares fit ``y ~ a0 + sum_k (a_k cos(k w t) + b_k sin(k w t))``.

    Attributes:
        r2: Coefficient of determination of the fit.
        corr: Correlation of ``y`` with the fitted values (``sqrt(r2)``, non-negative).
        amplitude: Amplitude of the first harmonic, in the units of ``y``.
        phase_day: Day of year at which the first harmonic peaks.
        fitted: ``(n,)`` fitted values.
        coef: ``(1 + 2 n_harmonics,)`` coefficients ``[a0, a1, b1, a2, b2, ...]``.
    """

    r2: float
    corr: float
    amplitude: float
    phase_day: float
    fitted: np.ndarray
    coef: np.ndarray


def harmonic_design(day_of_year: np.ndarray, n_harmonics: int = 1) -> np.ndarray:
    """Design matrix ``(n, 1 + 2 n_harmonics)`` of a constant and cos/sin pairs."""
    t = 2 * np.pi * np.asarray(day_of_year, dtype=np.float64) / DAYS_PER_YEAR
    cols = [np.ones_like(t)]
    for k in range(1, n_harmonics + 1):
        cols += [np.cos(k * t), np.sin(k * t)]
    return np.stack(cols, axis=1)


def annual_harmonic_fit(y: np.ndarray, day_of_year: np.ndarray, n_harmonics: int = 1) -> HarmonicFit:
    """Fit the annual harmonics to ``y`` (shape ``(n,)``) sampled on ``day_of_year``."""
    y = np.asarray(y, dtype=np.float64)
    design = harmonic_design(day_of_year, n_harmonics)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    fitted = design @ coef
    ss_res = float(np.sum((y - fitted) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0
    a1, b1 = coef[1], coef[2]
    phase = (np.arctan2(b1, a1) / (2 * np.pi) * DAYS_PER_YEAR) % DAYS_PER_YEAR
    return HarmonicFit(
        r2=r2,
        corr=float(np.sqrt(max(r2, 0.0))),
        amplitude=float(np.hypot(a1, b1)),
        phase_day=float(phase),
        fitted=fitted,
        coef=coef,
    )
