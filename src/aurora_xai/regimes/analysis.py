"""From pooled latents to the PCA dataset and its headline numbers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..latents.io import feature_matrix
from ..tables import not_applicable
from .applicability import NotApplicableError
from .pca import fit_pca
from .seasonal import annual_harmonic_fit, check_annual_coverage, harmonic_table

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
        ``annual_fit (date, pc)`` with its ``annual_r2``, ``annual_amplitude`` and
        ``annual_phase_day (pc)``, and the per-date coordinates of ``pooled``. When the
        dates cover too little of the year for an annual-harmonic fit (e.g. one month;
        see :func:`~aurora_xai.regimes.seasonal.check_annual_coverage`) the fit variables
        are NaN and the attribute ``annual_fit_note`` gives the reason (``""`` otherwise).

    Raises:
        ValueError: from :func:`~aurora_xai.latents.io.feature_matrix` (unknown region)
            or :func:`~aurora_xai.regimes.pca.fit_pca` (fewer than 2 dates).
    """
    x, names = feature_matrix(pooled, region, levels)
    k = min(n_components, *x.shape)
    res = fit_pca(x, k, standardize=standardize)
    doy = pooled["day_of_year"].values
    n = x.shape[0]
    fitted = np.full((n, k), np.nan)
    r2, amplitude, phase = np.full(k, np.nan), np.full(k, np.nan), np.full(k, np.nan)
    try:
        check_annual_coverage(doy)
        note = ""
    except NotApplicableError as err:
        note = str(err)
    if not note:
        for i in range(k):
            fit = annual_harmonic_fit(res.scores[:, i], doy)
            fitted[:, i], r2[i], amplitude[i], phase[i] = fit.fitted, fit.r2, fit.amplitude, fit.phase_day
    pcs = np.arange(1, k + 1)
    ds = xr.Dataset(
        {
            "scores": (("date", "pc"), res.scores),
            "components": (("pc", "feature"), res.components),
            "explained_variance_ratio": (("pc",), res.explained_variance_ratio),
            "annual_fit": (("date", "pc"), fitted),
            "annual_r2": (("pc",), r2),
            "annual_amplitude": (("pc",), amplitude),
            "annual_phase_day": (("pc",), phase),
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
    ds.attrs.update(
        region=region,
        levels=",".join(levels or []),
        standardize=int(standardize),
        n_features=x.shape[1],
        annual_fit_note=note,
    )
    return ds


def explained_variance_table(pca: xr.Dataset) -> pd.DataFrame:
    """Per-PC explained variance, cumulative variance and annual-harmonic fit.

    Columns ``pc, explained_variance_ratio, cumulative, r2, corr, amplitude, phase_day,
    note``; where the dates do not allow the annual fit its columns are empty (NaN) and
    ``note`` gives the reason.
    """
    table = harmonic_table(pca["scores"].values, pca["day_of_year"].values)
    evr = pca["explained_variance_ratio"].values
    table.insert(1, "explained_variance_ratio", evr)
    table.insert(2, "cumulative", np.cumsum(evr))
    table["note"] = table.attrs.get("note", "")
    return table


def pca_headline(pca: xr.Dataset, n_permutations: int = 10000, seed: int = 0) -> list[dict]:
    """Headline rows: PC1's explained variance, its annual correlation and R^2, and the
    separation of winter from summer along it.

    Statistics the dates do not allow (the annual fit over a window much shorter than a
    year, DJF against JJA without both seasons) are rows with an empty value and the
    reason (:func:`~aurora_xai.tables.not_applicable`).
    """
    from .study import season_headline

    n = int(pca.sizes["date"])
    pc1 = pca["scores"].sel(pc=1).values
    rows: list[dict] = [
        {
            "metric": "pc1_explained_variance",
            "value": float(pca["explained_variance_ratio"].sel(pc=1)),
            "n": n,
            "method": "in-sample PCA of all dates; no interval (its stability: pc1_bootstrap_cos)",
            "n_unit": "dates",
            "unit": "fraction of variance",
        }
    ]
    fit_extra = {
        "method": "in-sample least-squares fit of an annual harmonic to PC1; no interval (the layer sweep's "
        "sweep_pc1_annual_r2@<tap> rows have a bootstrap interval)",
        "n_unit": "dates",
    }
    try:
        fit = annual_harmonic_fit(pc1, pca["day_of_year"].values)
        rows += [
            {"metric": "pc1_annual_corr", "value": fit.corr, "n": n, **fit_extra},
            {"metric": "pc1_annual_r2", "value": fit.r2, "n": n, **fit_extra},
        ]
    except NotApplicableError as err:
        rows += [not_applicable(m, str(err), n, **fit_extra) for m in ("pc1_annual_corr", "pc1_annual_r2")]
    return [*rows, *season_headline(pca, n_permutations=n_permutations, seed=seed)]
