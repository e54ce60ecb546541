"""From pooled latents to the PCA dataset and its headline numbers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..latents_io import feature_matrix
from .pca import fit_pca
from .seasonal import annual_harmonic_fit, harmonic_table

__all__ = ["pca_dataset", "pca_headline", "explained_variance_table"]


def pca_dataset(
    pooled: xr.Dataset,
    region: str,
    levels: Sequence[str] | None = None,
    n_components: int = 10,
    standardize: bool = True,
) -> xr.Dataset:
    """Fit PCA across dates to the pooled features of one region.

    Returns:
        Dataset with ``scores (date, pc)``, ``components (pc, feature)``,
        ``explained_variance_ratio (pc)``, the fitted annual cycle of each PC
        ``annual_fit (date, pc)`` and the per-date coordinates of ``pooled``.
    """
    x, names = feature_matrix(pooled, region, levels)
    k = min(n_components, *x.shape)
    res = fit_pca(x, k, standardize=standardize)
    doy = pooled["day_of_year"].values
    fits = [annual_harmonic_fit(res.scores[:, i], doy) for i in range(k)]
    pcs = np.arange(1, k + 1)
    ds = xr.Dataset(
        {
            "scores": (("date", "pc"), res.scores),
            "components": (("pc", "feature"), res.components),
            "explained_variance_ratio": (("pc",), res.explained_variance_ratio),
            "annual_fit": (("date", "pc"), np.stack([f.fitted for f in fits], axis=1)),
            "annual_r2": (("pc",), np.array([f.r2 for f in fits])),
            "annual_amplitude": (("pc",), np.array([f.amplitude for f in fits])),
            "annual_phase_day": (("pc",), np.array([f.phase_day for f in fits])),
        },
        coords={
            "date": pooled["date"].values,
            "pc": pcs,
            "feature": names,
            "month": ("date", pooled["month"].values),
            "day_of_year": ("date", doy),
            "season": ("date", pooled["season"].values),
        },
    )
    ds["scores"].attrs["long_name"] = "principal component scores of the standardised pooled latents"
    ds["explained_variance_ratio"].attrs.update(units="1", long_name="fraction of total variance")
    ds["annual_r2"].attrs["long_name"] = "R^2 of the fit to the first annual harmonic"
    ds["annual_phase_day"].attrs.update(units="day of year", long_name="day of the annual harmonic's maximum")
    ds.attrs.update(region=region, levels=",".join(levels or []), standardize=int(standardize), n_features=x.shape[1])
    return ds


def explained_variance_table(pca: xr.Dataset) -> pd.DataFrame:
    """Per-PC explained variance, cumulative variance and annual-harmonic fit."""
    table = harmonic_table(pca["scores"].values, pca["day_of_year"].values)
    evr = pca["explained_variance_ratio"].values
    table.insert(1, "explained_variance_ratio", evr)
    table.insert(2, "cumulative", np.cumsum(evr))
    return table


def pca_headline(pca: xr.Dataset, n_permutations: int = 10000, seed: int = 0) -> list[dict]:
    """Headline rows: PC1's explained variance, its annual correlation and R^2, and the
    separation of winter from summer along it."""
    from .study import season_headline

    n = int(pca.sizes["date"])
    pc1 = pca["scores"].sel(pc=1).values
    fit = annual_harmonic_fit(pc1, pca["day_of_year"].values)
    return [
        {"metric": "pc1_explained_variance", "value": float(pca["explained_variance_ratio"].sel(pc=1)), "n": n},
        {"metric": "pc1_annual_corr", "value": fit.corr, "n": n},
        {"metric": "pc1_annual_r2", "value": fit.r2, "n": n},
        *season_headline(pca, n_permutations=n_permutations, seed=seed),
    ]
