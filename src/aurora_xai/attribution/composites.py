"""Storm and calm composites of relevance: per-day summaries, composite means with
bootstrap intervals over days, and the storm-minus-calm difference.

Torch-free (the analysis and plotting rules use it); the relevance of each labelled day
is computed by :func:`aurora_xai.attribution.study.relevance_for_days`.

**Per day** (:func:`day_moments`, from one relevance dataset of
:func:`~aurora_xai.attribution.methods.compute_relevance`): inside a box, for every
atmospheric variable and pressure level, the moments of the weights ``w = |R|``
(absolute value first, then summed over the history steps and the box's cells, as
:func:`~aurora_xai.attribution.summaries.vertical_profile` sums)::

    abs_relevance = sum w      lat_moment = sum w * lat
    sin_moment = sum w * sin(lon)      cos_moment = sum w * cos(lon)

and ``signed_relevance = sum R``; ``|R|`` of each surface and static input in the box;
``|R|`` of all inputs in the box and over the whole grid. The moments add up, so the
centroid of any group of variables and levels follows exactly (:func:`centroid`): the
latitude is the weighted mean, the longitude the weighted circular mean, as
:func:`~aurora_xai.attribution.summaries.relevance_centroids` defines them for one
variable and level. A *days dataset* stacks these along ``date`` (the sample time), with
the day's ``label`` (``storm``/``calm``), ``rank`` and ``wind`` from the label table.

**Per-day quantities** (:func:`day_quantities`). Each day is normalised by its own total,
so every day weighs the same in a composite whatever the size of its relevance:

* ``profile_share`` (variable, level): ``|R|`` of the variable at the level over the
  day's atmospheric ``|R|`` in the box (the shares of a day sum to 1); variable ``all``
  is the sum over the variables;
* ``upper_share``: the share of the levels at or above :data:`UPPER_HPA` (p <= 500 hPa);
* ``atmospheric_share``: atmospheric ``|R|`` over the ``|R|`` of all inputs (surface,
  static, atmospheric) in the box;
* ``box_share``: ``|R|`` of all inputs in the box over that over the whole grid;
* ``centroid_dlon``, ``centroid_dlat`` (variable, level): the level's centroid minus the
  centroid of the whole column (all levels), degrees; longitude differences wrapped into
  [-180, 180). Offsets, not positions, are composited: storms sit at different places
  on different days, their vertical tilt is what days share;
* ``tilt_lon``, ``tilt_lat``: centroid of the upper layer (p <= :data:`UPPER_HPA`) minus
  that of the lower layer (p > :data:`UPPER_HPA`), all atmospheric variables, degrees.
  A negative ``tilt_lon`` is relevance shifted westward with height (the tilt of a
  baroclinic extratropical cyclone).

A centroid needs weight: a day without ``|R|`` in the box (or with weights spread evenly
around the circle) has NaN there and is left out of that quantity's composite.

**Composites** (:func:`composite_table`): per label, the mean over its days and a
percentile bootstrap interval. The resampled units are either *episodes* (runs of
consecutive calendar days with the same label: one storm gives several windy days in a
row, and resampling single days would understate the uncertainty;
:func:`~aurora_xai.regimes.blocking.episode_groups`) or single days; a resample draws as
many units as there are, with replacement
(:func:`~aurora_xai.regimes.blocking.unit_bootstrap_counts`), and averages over the days
they hold. The storm-minus-calm difference resamples both labels independently.
Resampling is seeded: the same inputs and seed give the same table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from ..regimes.blocking import day_numbers, episode_groups, unit_bootstrap_counts
from ..regions import Region
from ..tables import not_applicable
from .summaries import variable_kind

__all__ = [
    "GROUPS",
    "CompositeSettings",
    "HEADLINE_QUANTITIES",
    "RESAMPLING",
    "UPPER_HPA",
    "centroid",
    "composite_headline",
    "composite_table",
    "day_moments",
    "day_quantities",
    "empty_day_moments",
    "stack_days",
    "wrap_degrees",
]


@dataclasses.dataclass(frozen=True)
class CompositeSettings:
    """The composites' bootstrap (rule ``summarise_composites``): resamples and their
    units (``episodes`` or ``days``; see :func:`composite_table`)."""

    SECTION: ClassVar[str] = "attribution"

    composite_boot: int
    composite_resample: str


#: Pressure (hPa) at and above which (p <= UPPER_HPA) a level counts as upper.
UPPER_HPA = 500.0

#: Rows of a composite table: each label, and the storm-minus-calm difference.
GROUPS = ("storm", "calm", "storm_minus_calm")

#: Units a bootstrap resample draws.
RESAMPLING = ("episodes", "days")

#: Headline quantities: (quantity, metric stem, unit suffix of the metric).
HEADLINE_QUANTITIES = (
    ("upper_share", "lrp_upper_share", ""),
    ("tilt_lon", "lrp_tilt", "_deg"),
    ("atmospheric_share", "lrp_atmospheric_share", ""),
)

_MOMENTS = ("abs_relevance", "lat_moment", "sin_moment", "cos_moment")


def wrap_degrees(x: Any) -> Any:
    """Angles (degrees) wrapped into [-180, 180); NaN stays NaN."""
    return (np.asarray(x, dtype=float) + 180.0) % 360.0 - 180.0


# --------------------------------------------------------------------------------------
# One day: moments of |R| in a box.
# --------------------------------------------------------------------------------------


def day_moments(ds: xr.Dataset, region: Region) -> xr.Dataset:
    """Moments of ``|R|`` inside ``region`` per atmospheric variable and level (one day).

    Args:
        ds: A relevance dataset (:func:`~aurora_xai.attribution.methods.compute_relevance`):
            atmospheric variables ``(history, level, latitude, longitude)``, surface
            variables ``(history, latitude, longitude)``, static ones ``(latitude, longitude)``.
        region: The box the moments are summed over (cells whose centre lies in it).

    Returns:
        Dataset with ``abs_relevance``, ``signed_relevance``, ``lat_moment``
        (``sum |R| * latitude``, degrees north), ``sin_moment``, ``cos_moment``
        (``sum |R| * sin/cos(longitude)``) of dims ``(variable, level)``;
        ``input_abs_relevance`` ``(input)`` for the surface and static inputs;
        ``abs_relevance_box`` and ``abs_relevance_grid`` (scalars: all inputs in the box,
        and everywhere). Relevance units are those of the target.

    Raises:
        ValueError: the dataset has no atmospheric variable, or the box holds no cell.
    """
    lat = ds["latitude"].values.astype(float)
    lon = ds["longitude"].values.astype(float)
    mask = region.mask(lat, lon)
    if not mask.any():
        raise ValueError(f"region {region.name!r} contains no cell of the relevance grid")
    box = xr.DataArray(mask, dims=("latitude", "longitude"))
    atmos = [v for v in ds.data_vars if variable_kind(ds[v]) == "atmospheric"]
    if not atmos:
        raise ValueError("relevance dataset has no atmospheric variable")
    others = [v for v in ds.data_vars if v not in atmos]

    def hist(da: xr.DataArray) -> xr.DataArray:
        return da.sum("history") if "history" in da.dims else da

    names = np.asarray(atmos, dtype=str)
    r = xr.concat([hist(ds[v]) for v in atmos], dim="variable").assign_coords(variable=names).where(box, 0.0)
    w = xr.concat([hist(abs(ds[v])) for v in atmos], dim="variable").assign_coords(variable=names).where(box, 0.0)
    lat_da = xr.DataArray(lat, dims="latitude")
    rad = np.deg2rad(lon)
    sin_da = xr.DataArray(np.sin(rad), dims="longitude")
    cos_da = xr.DataArray(np.cos(rad), dims="longitude")
    cells = ("latitude", "longitude")
    out = xr.Dataset(
        {
            "abs_relevance": w.sum(cells),
            "signed_relevance": r.sum(cells),
            "lat_moment": (w * lat_da).sum(cells),
            "sin_moment": (w * sin_da).sum(cells),
            "cos_moment": (w * cos_da).sum(cells),
        }
    )
    inputs = [float(hist(abs(ds[v])).where(box, 0.0).sum()) for v in others]
    out["input_abs_relevance"] = xr.DataArray(np.asarray(inputs, dtype=float), dims="input", coords={"input": others})
    out["abs_relevance_box"] = float(w.sum()) + float(np.sum(inputs))
    out["abs_relevance_grid"] = float(sum(float(abs(ds[v]).sum()) for v in ds.data_vars))
    return out.drop_vars([c for c in out.coords if c not in ("variable", "level", "input")])


def empty_day_moments(variables: Sequence[str], levels: Sequence[float], inputs: Sequence[str]) -> xr.Dataset:
    """A days dataset without days (``date`` of length 0), with the layout of :func:`day_moments`."""
    nv, nl, ni = len(variables), len(levels), len(inputs)
    coords = {
        "date": ("date", np.asarray([], dtype="datetime64[ns]")),
        "variable": list(variables),
        "level": np.asarray(levels, dtype=float),
        "input": list(inputs),
    }
    vl = ("date", "variable", "level")
    data = {name: (vl, np.zeros((0, nv, nl))) for name in (*_MOMENTS, "signed_relevance")}
    data["input_abs_relevance"] = (("date", "input"), np.zeros((0, ni)))
    data["abs_relevance_box"] = ("date", np.zeros(0))
    data["abs_relevance_grid"] = ("date", np.zeros(0))
    return xr.Dataset(data, coords=coords)


def stack_days(
    moments: Sequence[xr.Dataset],
    times: Sequence[Any],
    rows: Sequence[Mapping[str, Any]],
    empty: xr.Dataset | None = None,
) -> xr.Dataset:
    """A days dataset: per-day moments stacked along ``date``, labelled from the label table.

    Args:
        moments: One :func:`day_moments` dataset per day.
        times: The days' sample times (naive UTC), the ``date`` coordinate.
        rows: The days' rows of the label table (``date`` as YYYY-MM-DD, ``label``,
            ``rank``, ``wind``), in the same order.
        empty: The dataset to return when there are no days (:func:`empty_day_moments`).

    Returns:
        The stacked moments with coordinates ``date``, and ``day``, ``label``, ``rank``,
        ``wind`` (m/s) on ``date``.

    Raises:
        ValueError: the three sequences differ in length, or no days and no ``empty``.
    """
    if not len(moments) == len(times) == len(rows):
        raise ValueError(f"{len(moments)} moments, {len(times)} times and {len(rows)} rows: one each per day")
    if not len(moments):
        if empty is None:
            raise ValueError("no days to stack and no empty layout given")
        out = empty
    else:
        out = xr.concat(list(moments), dim="date", coords="minimal", compat="override")
    out = out.assign_coords(
        date=("date", pd.DatetimeIndex(list(times)).values.astype("datetime64[ns]")),
        day=("date", np.asarray([str(r["date"]) for r in rows], dtype=str)),
        label=("date", np.asarray([str(r["label"]) for r in rows], dtype=str)),
        rank=("date", np.asarray([int(r["rank"]) for r in rows], dtype=np.int64)),
        wind=("date", np.asarray([float(r["wind"]) for r in rows], dtype=float)),
    )
    out["level"].attrs.update(units="hPa", long_name="pressure level")
    out["wind"].attrs.update(units="m s-1", long_name="daily maximum 10 m wind speed in the labels' box")
    return out


def centroid(moments: xr.Dataset, dims: Sequence[str] = ()) -> tuple[xr.DataArray, xr.DataArray]:
    """Centroid ``(lat, lon)`` of ``|R|`` from moments summed over ``dims``.

    Latitude: ``lat_moment / abs_relevance``; longitude: ``atan2(sin_moment, cos_moment)``
    in [0, 360). NaN where there is no weight or the weights are spread evenly around the
    circle (the resultant is below ``1e-12`` of the weight), as
    :func:`~aurora_xai.attribution.summaries.circular_mean_lon`.
    """
    m = moments[list(_MOMENTS)]
    if dims:
        m = m.sum(list(dims))
    w = m["abs_relevance"]
    ok = w > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        lat = (m["lat_moment"] / w).where(ok)
    resultant = np.hypot(m["sin_moment"], m["cos_moment"])
    lon = xr.DataArray(
        np.rad2deg(np.arctan2(m["sin_moment"].values, m["cos_moment"].values)) % 360.0,
        dims=w.dims,
        coords=w.coords,
    )
    lon = lon.where(lon <= 360.0 - 1e-9, 0.0).where(ok & (resultant >= 1e-12 * w))
    return lat, lon


# --------------------------------------------------------------------------------------
# Per-day quantities.
# --------------------------------------------------------------------------------------


def _with_all(moments: xr.Dataset) -> xr.Dataset:
    """Moments with an extra variable ``all`` (the sum over the variables)."""
    m = moments[list(_MOMENTS)]
    names = [str(v) for v in m["variable"].values]
    total = m.sum("variable").expand_dims(variable=["all"])
    out = xr.concat([m.assign_coords(variable=np.asarray(names, dtype=str)), total], dim="variable")
    return out.assign_coords(variable=np.asarray([*names, "all"], dtype=str))


def _ratio(a: xr.DataArray, b: xr.DataArray) -> xr.DataArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a / b).where(b > 0)


def day_quantities(days: xr.Dataset, upper_hpa: float = UPPER_HPA) -> pd.DataFrame:
    """The per-day quantities of the module docstring, one row per day and quantity.

    Args:
        days: A days dataset (:func:`day_moments` stacked along ``date``, with the
            coordinates ``label`` and ``day`` on ``date``).
        upper_hpa: Levels with ``p <= upper_hpa`` are the upper layer.

    Returns:
        Columns ``date`` (the sample time), ``day`` (YYYY-MM-DD), ``label``, ``quantity``,
        ``variable`` (``all`` for the sum over variables and for whole-day quantities),
        ``level`` (hPa; NaN for whole-day quantities), ``value`` (a share in [0, 1], or
        degrees).

    Raises:
        ValueError: no level on each side of ``upper_hpa``.
    """
    levels = days["level"].values.astype(float)
    upper = levels <= upper_hpa
    if len(days["date"]) and (not upper.any() or upper.all()):
        raise ValueError(f"levels {levels.tolist()} do not fall on both sides of {upper_hpa:g} hPa")
    m = _with_all(days)
    w = m["abs_relevance"]
    atmospheric = w.sel(variable="all").sum("level")
    share = _ratio(w, atmospheric)
    lat_l, lon_l = centroid(m)
    lat_c, lon_c = centroid(m, ("level",))
    m_all = m.sel(variable="all")
    lat_up, lon_up = centroid(m_all.isel(level=np.flatnonzero(upper)), ("level",))
    lat_lo, lon_lo = centroid(m_all.isel(level=np.flatnonzero(~upper)), ("level",))
    profiles = {
        "profile_share": share,
        "centroid_dlon": xr.apply_ufunc(wrap_degrees, lon_l - lon_c),
        "centroid_dlat": lat_l - lat_c,
    }
    scalars = {
        "upper_share": share.sel(variable="all").isel(level=np.flatnonzero(upper)).sum("level", min_count=1),
        "atmospheric_share": _ratio(atmospheric, days["abs_relevance_box"]),
        "box_share": _ratio(days["abs_relevance_box"], days["abs_relevance_grid"]),
        "tilt_lon": xr.apply_ufunc(wrap_degrees, lon_up - lon_lo),
        "tilt_lat": lat_up - lat_lo,
    }
    frames = []
    for name, da in profiles.items():
        df = da.transpose("date", "variable", "level").to_dataframe(name="value").reset_index()
        frames.append(df.assign(quantity=name)[["date", "quantity", "variable", "level", "value"]])
    for name, da in scalars.items():
        df = pd.DataFrame({"date": days["date"].values, "value": np.asarray(da.values, dtype=float)})
        frames.append(df.assign(quantity=name, variable="all", level=np.nan))
    out = pd.concat(frames, ignore_index=True)
    meta = pd.DataFrame(
        {
            "date": days["date"].values,
            "day": pd.DatetimeIndex(days["date"].values).strftime("%Y-%m-%d"),
            "label": np.asarray(days["label"].values, dtype=str) if "label" in days.coords else np.array([], str),
        }
    )
    out = out.merge(meta, on="date", how="left")
    cols = ["date", "day", "label", "quantity", "variable", "level", "value"]
    return out[cols].astype({"level": float, "value": float})


# --------------------------------------------------------------------------------------
# Composites with bootstrap intervals.
# --------------------------------------------------------------------------------------


def _bootstrap_means(x: np.ndarray, units: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Means ``(n_boot, k)`` of ``x`` ``(n, k)`` over the days of resampled units (NaN ignored)."""
    weights = unit_bootstrap_counts(units, n_boot, rng)  # (n_boot, n): how often each day is drawn
    finite = np.isfinite(x)
    num = weights @ np.where(finite, x, 0.0)
    den = weights @ finite.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _percentiles(boot: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    a = (1.0 - level) / 2.0
    lo = np.full(boot.shape[1], np.nan)
    hi = np.full(boot.shape[1], np.nan)
    for j in range(boot.shape[1]):
        col = boot[:, j][np.isfinite(boot[:, j])]
        if len(col):
            lo[j], hi[j] = np.quantile(col, [a, 1.0 - a])
    return lo, hi


def composite_table(
    quantities: pd.DataFrame,
    n_boot: int = 1000,
    seed: int = 0,
    resample: str = "episodes",
    level: float = 0.95,
) -> pd.DataFrame:
    """Composite mean per label and storm-minus-calm difference, with bootstrap intervals.

    Args:
        quantities: Per-day quantities (:func:`day_quantities`): columns ``day``,
            ``label`` (``storm``/``calm``), ``quantity``, ``variable``, ``level``, ``value``.
        n_boot: Bootstrap resamples (>= 1).
        seed: Seed of the resampling (storm and calm days draw from separate streams).
        resample: ``episodes`` (runs of consecutive days of a label,
            :func:`~aurora_xai.regimes.blocking.episode_groups`) or ``days``.
        level: Coverage of the percentile intervals, in (0, 1).

    Returns:
        One row per quantity, variable, level and group (:data:`GROUPS`): ``quantity``,
        ``variable``, ``level``, ``group``, ``mean``, ``ci_low``, ``ci_high``, ``n_days``
        (days with a finite value; for the difference both labels' together),
        ``n_units`` (resampled units holding such days), ``resample``. ``mean`` is NaN
        when a label has no such day; the interval is NaN with fewer than two units in a
        label.

    Raises:
        ValueError: an unknown ``resample`` or label, ``n_boot < 1`` or ``level``
            outside (0, 1).
    """
    if resample not in RESAMPLING:
        raise ValueError(f"attribution.composite_resample must be one of {RESAMPLING}, got {resample!r}")
    if n_boot < 1:
        raise ValueError(f"attribution.composite_boot must be >= 1, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"interval level must be in (0, 1), got {level}")
    unknown = set(quantities["label"]) - {"storm", "calm"}
    if unknown:
        raise ValueError(f"labels must be storm or calm, got {sorted(unknown)}")
    key_cols = ["quantity", "variable", "level"]
    keys = quantities[key_cols].drop_duplicates().reset_index(drop=True)
    q = quantities.merge(keys.reset_index().rename(columns={"index": "key"}), on=key_cols, how="left")
    stats: dict[str, dict[str, np.ndarray]] = {}
    boots: dict[str, np.ndarray | None] = {}
    for g, label in enumerate(("storm", "calm")):
        part = q[q["label"] == label]
        x = part.pivot_table(index="day", columns="key", values="value", aggfunc="first", dropna=False)
        x = x.reindex(columns=range(len(keys)))
        values = x.to_numpy(dtype=float)
        if resample == "episodes":
            units = episode_groups(day_numbers(x.index), np.zeros(len(x), dtype=np.int64))
        else:
            units = np.arange(len(x), dtype=np.int64)
        finite = np.isfinite(values)
        n_days = finite.sum(axis=0)
        n_units = np.array([len(np.unique(units[finite[:, j]])) for j in range(len(keys))], dtype=int)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n_days > 0, np.where(finite, values, 0.0).sum(axis=0) / np.maximum(n_days, 1), np.nan)
        if len(x):
            boot = _bootstrap_means(values, units, n_boot, np.random.default_rng([int(seed), g]))
            lo, hi = _percentiles(boot, level)
        else:
            boot, lo, hi = None, np.full(len(keys), np.nan), np.full(len(keys), np.nan)
        few = n_units < 2
        lo[few], hi[few] = np.nan, np.nan
        stats[label] = {"mean": mean, "ci_low": lo, "ci_high": hi, "n_days": n_days, "n_units": n_units}
        boots[label] = boot
    s, c = stats["storm"], stats["calm"]
    diff = {"mean": s["mean"] - c["mean"], "n_days": s["n_days"] + c["n_days"], "n_units": s["n_units"] + c["n_units"]}
    if boots["storm"] is not None and boots["calm"] is not None:
        diff["ci_low"], diff["ci_high"] = _percentiles(boots["storm"] - boots["calm"], level)
    else:
        diff["ci_low"], diff["ci_high"] = np.full(len(keys), np.nan), np.full(len(keys), np.nan)
    few = (s["n_units"] < 2) | (c["n_units"] < 2)
    diff["ci_low"][few], diff["ci_high"][few] = np.nan, np.nan
    stats["storm_minus_calm"] = diff
    frames = []
    for group in GROUPS:
        st = stats[group]
        frames.append(
            keys.assign(
                group=group,
                mean=st["mean"],
                ci_low=st["ci_low"],
                ci_high=st["ci_high"],
                n_days=st["n_days"].astype(int),
                n_units=st["n_units"].astype(int),
                resample=resample,
            )
        )
    return pd.concat(frames, ignore_index=True)


def composite_headline(
    table: pd.DataFrame,
    labelled: Mapping[str, int] | None = None,
    computed: Mapping[str, int] | None = None,
    n_boot: int | None = None,
) -> list[dict[str, Any]]:
    """Headline rows of a composite table (:data:`HEADLINE_QUANTITIES` x :data:`GROUPS`).

    Metrics ``lrp_upper_share_<group>``, ``lrp_tilt_<group>_deg`` and
    ``lrp_atmospheric_share_<group>`` (``<group>``: ``storm``, ``calm``,
    ``storm_minus_calm``) with the interval and ``n`` = the bootstrap's resampled units
    (episodes, or days with ``resample='days'``; both labels' for the difference), the
    effective sample of the interval; the days are worded in ``method``. A row whose
    value the days do not allow is not applicable, with the reason.

    Args:
        table: :func:`composite_table`'s output.
        labelled: Days per label in the label table (``{"storm": n, "calm": m}``).
        computed: Days per label whose relevance was computed (the others were skipped:
            sample not in the store). Both only word the reasons.
        n_boot: The bootstrap's resamples (``attribution.composite_boot``), worded in
            the ``method`` column.
    """
    labelled = dict(labelled or {})
    computed = dict(computed or labelled)
    rows: list[dict[str, Any]] = []
    for quantity, stem, unit in HEADLINE_QUANTITIES:
        sel = table[(table["quantity"] == quantity) & (table["variable"] == "all")].set_index("group")
        for group in GROUPS:
            metric = f"{stem}_{group}{unit}"
            r = sel.loc[group] if group in sel.index else pd.Series({"mean": np.nan, "n_days": 0, "n_units": 0})
            resampled = str(r["resample"]) if "resample" in r.index and isinstance(r["resample"], str) else "days"
            n_days = int(r["n_days"])
            n = int(r["n_units"]) if "n_units" in r.index and np.isfinite(r["n_units"]) else n_days
            count = "" if n_boot is None else f", {int(n_boot)} resamples"
            method = f"mean over {n_days} labelled days; percentile bootstrap of whole {resampled}{count}"
            if group == "storm_minus_calm":
                method += " (storm and calm resampled independently)"
            n_unit = "episodes" if resampled == "episodes" else "labelled days"
            if group == "storm_minus_calm":
                n_unit += " (storm and calm together)"
            extra = {"method": method, "n_unit": n_unit, "unit": "degrees" if unit == "_deg" else ""}
            if np.isfinite(r["mean"]):
                row = {"metric": metric, "value": float(r["mean"]), "n": n, **extra}
                if np.isfinite(r["ci_low"]) and np.isfinite(r["ci_high"]):
                    row.update(ci_low=float(r["ci_low"]), ci_high=float(r["ci_high"]))
                rows.append(row)
                continue
            reasons = []
            for lab in ("storm", "calm") if group == "storm_minus_calm" else (group,):
                if labelled.get(lab, 0) == 0:
                    reasons.append(f"no {lab} days in the label table")
                elif computed.get(lab, 0) == 0:
                    reasons.append(f"all {labelled[lab]} {lab} days skipped (sample not in the store)")
            if not reasons:
                reasons.append(f"{quantity} is undefined on every labelled day (no relevance inside the box)")
            rows.append(not_applicable(metric, "; ".join(reasons), n, **extra))
    return rows
