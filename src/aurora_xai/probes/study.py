"""The probe study: every tap's latents, the raw inputs and the random model, on the same folds.

Reads the files the workflow writes (pooled latents per tap, ``results/probes/targets.nc``,
``results/probes/inputs_pooled.nc``, the random model's pooled latents per tap), checks
that their dates agree and their values are finite (errors name the file and the date),
and returns the table of held-out R² (:func:`probe_table`) and its headline rows
(:func:`probe_headline`). Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..latents.io import feature_matrix
from ..regimes.blocking import day_numbers
from .ridge import ProbeResult, fit_probes, select_taps, week_folds
from .targets import CALIBRATION, PLANTED

__all__ = [
    "FEATURE_SETS",
    "NESTED_TAP",
    "quantity_role",
    "check_aligned",
    "check_finite",
    "latent_features",
    "probe_headline",
    "probe_table",
    "read_targets",
]

#: Feature sets of the table: the trained model's latents, the raw inputs, the random model's latents.
FEATURE_SETS: tuple[str, ...] = ("latent", "raw_inputs", "random_model")
#: ``tap`` of the raw-input rows (they do not depend on a tap).
INPUTS_TAP = "inputs"
#: ``tap`` of the rows whose tap is chosen inside each training fold (the headline's).
NESTED_TAP = "nested"


def quantity_role(quantity: str) -> str:
    """``calibration`` (the region mean of one input field: the raw inputs hold it exactly),
    ``planted`` (a term of F's planted dynamics, not linear in the pooled inputs) or
    ``physical``."""
    if quantity in CALIBRATION:
        return "calibration"
    return "planted" if quantity in PLANTED else "physical"


_ROLE_NOTE = {
    "calibration": "; calibration row: the quantity is the region mean of one input field, so the raw inputs "
    "hold it exactly and every feature set should decode it",
    "planted": "; a term of the planted dynamics F that the pooled raw inputs do not contain linearly",
    "physical": "",
}


def _fmt(t) -> str:
    return f"{pd.Timestamp(t):%Y-%m-%dT%H:%M}"


def check_aligned(dates, reference, path: str | Path, reference_path: str | Path) -> None:
    """Raise unless ``dates`` equal ``reference`` (same dates, same order).

    Raises:
        ValueError: naming both files and the first date present in one but not the
            other (or the first position where the order differs).
    """
    a, b = pd.DatetimeIndex(dates), pd.DatetimeIndex(reference)
    if a.equals(b):
        return
    only_a = a.difference(b)
    only_b = b.difference(a)
    if len(only_a):
        raise ValueError(
            f"{path}: date {_fmt(only_a[0])} is not in {reference_path} ({len(only_a)} dates of {path} missing there)"
        )
    if len(only_b):
        raise ValueError(f"{path}: date {_fmt(only_b[0])} of {reference_path} is missing ({len(only_b)} dates missing)")
    i = int(np.flatnonzero(a.values != b.values)[0])
    raise ValueError(f"{path}: dates out of the order of {reference_path} at {_fmt(a[i])}")


def check_finite(values: np.ndarray, dates, path: str | Path, what: str, names: Sequence[str] | None = None) -> None:
    """Raise unless ``values`` ``(n, m)`` are finite, naming the file, the date and the column.

    Raises:
        ValueError: ``"<path>: <what> <name> is not finite on <date>"``.
    """
    v = np.asarray(values, dtype=np.float64).reshape(len(dates), -1)
    bad = ~np.isfinite(v)
    if bad.any():
        d, c = np.argwhere(bad)[0]
        name = f" {names[c]}" if names is not None else ""
        raise ValueError(
            f"{path}: {what}{name} is not finite on {_fmt(pd.DatetimeIndex(dates)[d])} "
            f"({int(bad.any(axis=1).sum())} dates affected)"
        )


def read_targets(path: str | Path, quantities: Sequence[str]) -> tuple[pd.DatetimeIndex, np.ndarray, xr.Dataset]:
    """Dates, targets ``(n, q)`` and the dataset of ``results/probes/targets.nc``.

    Raises:
        ValueError: naming the file for a quantity it lacks or a non-finite target.
    """
    with xr.open_dataset(path) as ds:
        ds = ds.load()
    have = [str(q) for q in ds["quantity"].values]
    missing = [q for q in quantities if q not in have]
    if missing:
        raise ValueError(f"{path}: quantities {missing} not in the targets ({have})")
    y = ds["target"].sel(quantity=list(quantities)).transpose("date", "quantity").values
    dates = pd.DatetimeIndex(ds["date"].values)
    check_finite(y, dates, path, "target", list(quantities))
    return dates, y, ds


def latent_features(path: str | Path, region: str, dates) -> np.ndarray:
    """Features ``(n, p)`` of one tap's pooled latents over ``region``, checked against ``dates``.

    Raises:
        ValueError: naming the file for another set of dates, a missing region or a
            non-finite feature.
    """
    with xr.open_dataset(path) as ds:
        ds = ds.load()
    check_aligned(ds["date"].values, dates, path, "the probe targets")
    if region not in ds["region"].values:
        raise ValueError(f"{path}: probes.region {region!r} not in the pooled latents ({ds['region'].values.tolist()})")
    x, names = feature_matrix(ds, region)
    check_finite(x, dates, path, "latent feature", names)
    return x


def probe_table(
    targets_path: str | Path,
    inputs_path: str | Path,
    latent_paths: Mapping[str, str | Path],
    random_paths: Mapping[str, str | Path],
    region: str,
    quantities: Sequence[str],
    k: int,
    inner_k: int,
    gap_days: int,
    alphas: Sequence[float],
    n_boot: int,
    seed: int,
) -> pd.DataFrame:
    """Held-out R² of every tap x quantity x feature set, on one set of outer folds.

    Args:
        targets_path, inputs_path: ``results/probes/targets.nc``, ``inputs_pooled.nc``.
        latent_paths, random_paths: Tap -> pooled latents of the trained and the random model.
        region: Region of the pooled latents (``probes.region``).
        quantities: Targets probed.
        k, inner_k, gap_days, alphas, n_boot, seed: As :func:`~aurora_xai.probes.ridge.fit_probes`.

    Returns:
        Rows ``tap, quantity, role, features, r2, ci_low, ci_high, n, alpha_median, units,
        taps_chosen`` (``role``: :func:`quantity_role`); the raw-input rows have ``tap``
        ``"inputs"``; the rows of tap :data:`NESTED_TAP` score the latent taps, and the
        random model's, with the tap chosen inside each training fold
        (:func:`~aurora_xai.probes.ridge.select_taps`), ``taps_chosen`` saying which
        (``tap: folds``, per quantity).

    Raises:
        ValueError: for misaligned dates or non-finite values, naming the file and date.
    """
    dates, y, tds = read_targets(targets_path, quantities)
    units = dict(zip([str(q) for q in tds["quantity"].values], [str(u) for u in tds["units"].values]))
    folds = week_folds(day_numbers(dates), k, gap_days, seed)
    kw = dict(k=k, inner_k=inner_k, gap_days=gap_days, alphas=alphas, n_boot=n_boot, seed=seed, folds=folds)
    rows: list[dict] = []
    fitted: dict[str, dict[str, ProbeResult]] = {"latent": {}, "random_model": {}}

    def add(tap: str, features: str, x: np.ndarray) -> None:
        res = fit_probes(x, y, dates, **kw)
        if features in fitted:
            fitted[features][tap] = res
        for j, q in enumerate(quantities):
            rows.append(
                {
                    "tap": tap,
                    "quantity": q,
                    "role": quantity_role(q),
                    "features": features,
                    "r2": float(res.r2[j]),
                    "ci_low": float(res.ci_low[j]),
                    "ci_high": float(res.ci_high[j]),
                    "n": res.n,
                    "alpha_median": float(np.median(res.alphas[:, j])),
                    "units": units[q],
                    "taps_chosen": "",
                }
            )

    with xr.open_dataset(inputs_path) as ds:
        ds = ds.load()
    check_aligned(ds["date"].values, dates, inputs_path, targets_path)
    xin = ds["pooled_input"].transpose("date", "feature").values
    check_finite(xin, dates, inputs_path, "input feature", [str(f) for f in ds["feature"].values])
    add(INPUTS_TAP, "raw_inputs", xin)
    for tap, path in latent_paths.items():
        add(tap, "latent", latent_features(path, region, dates))
        add(tap, "random_model", latent_features(random_paths[tap], region, dates))
    for features, results in fitted.items():
        if not results:
            continue
        sel = select_taps(results, y, dates, n_boot=n_boot, seed=seed)
        for j, q in enumerate(quantities):
            chosen = pd.Series(sel.taps[:, j]).value_counts()
            rows.append(
                {
                    "tap": NESTED_TAP,
                    "quantity": q,
                    "role": quantity_role(q),
                    "features": features,
                    "r2": float(sel.r2[j]),
                    "ci_low": float(sel.ci_low[j]),
                    "ci_high": float(sel.ci_high[j]),
                    "n": sel.n,
                    "alpha_median": float("nan"),
                    "units": units[q],
                    "taps_chosen": ", ".join(f"{t}: {c}" for t, c in chosen.items()),
                }
            )
    return pd.DataFrame(rows)


def probe_headline(table: pd.DataFrame, n_boot: int | None = None) -> list[dict]:
    """Headline rows: per quantity, the latent R² with the tap chosen inside the training
    folds, and its two controls.

    Metrics ``probe_r2_<quantity>@nested`` (the latent taps, the tap chosen per outer
    fold on its training dates: :func:`~aurora_xai.probes.ridge.select_taps`),
    ``probe_r2_<quantity>@nested_random`` (the random model's taps, chosen the same way)
    and ``probe_r2_<quantity>_inputs`` (the raw inputs). Every tap's own score is in
    ``results/tables/probes.csv``. ``n_boot`` (the interval's resamples,
    ``probes.n_bootstrap``) is worded in the ``method`` column.
    """
    rows = []
    count = "" if n_boot is None else f", {int(n_boot)} resamples"
    for q in dict.fromkeys(table["quantity"]):
        sub = table[table["quantity"] == q]
        nested = sub[sub["tap"] == NESTED_TAP].set_index("features")
        inp = sub[sub["features"] == "raw_inputs"].iloc[0]
        for metric, r in (
            (f"probe_r2_{q}@{NESTED_TAP}", nested.loc["latent"]),
            (f"probe_r2_{q}@{NESTED_TAP}_random", nested.loc["random_model"]),
            (f"probe_r2_{q}_inputs", inp),
        ):
            method = (
                "held-out R² of a ridge probe (time-blocked folds with a gap); group bootstrap of the "
                f"held-out predictions, whole weeks resampled{count}"
            )
            if r["tap"] == NESTED_TAP:
                method += f"; the tap chosen inside each training fold by inner CV (nested; chosen {r['taps_chosen']})"
            method += _ROLE_NOTE[quantity_role(str(q))]
            rows.append(
                {
                    "metric": metric,
                    "value": r["r2"],
                    "ci_low": r["ci_low"],
                    "ci_high": r["ci_high"],
                    "n": int(r["n"]),
                    "method": method,
                    "n_unit": "dates",
                }
            )
    return rows
