"""Reading pooled-latent shards and turning them into feature matrices (imports without torch).

Pooled latents hold ``pooled`` of dims ``(date, region, latent_level, stat, channel)``
(:func:`aurora_xai.latents.extract.extract_pooled`); ``latent_level`` holds latent-level
names (``surface``, ``atmos_1`` ... or ``all`` for the published geometry), never
pressure levels.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .geometry import LATENT_LEVEL_DIM

__all__ = ["combine_shards", "feature_matrix"]

log = logging.getLogger(__name__)


def combine_shards(paths: Sequence[str | Path], expected: Sequence[str] | None = None) -> xr.Dataset:
    """Concatenate shard files along ``date`` and check that every expected date is there.

    Dates skipped by the extraction (``data.on_missing: skip``) are recorded in the
    shards' ``skipped_dates`` attribute and are not counted as missing; their reasons
    (``skipped_reasons``, JSON) are joined too.

    Raises:
        ValueError: naming the missing dates (and the shards that should hold them) if
            the set is incomplete, or duplicated dates.
    """
    if not paths:
        raise ValueError("no latent shards to aggregate")
    parts = []
    skipped: list[str] = []
    reasons: dict[str, str] = {}
    for p in paths:
        with xr.open_dataset(p) as ds:
            parts.append(ds.load())
        skipped += [s for s in parts[-1].attrs.get("skipped_dates", "").split(",") if s]
        reasons.update(json.loads(parts[-1].attrs.get("skipped_reasons") or "{}"))
    ds = xr.concat(parts, dim="date", combine_attrs="drop_conflicts").sortby("date")
    dates = pd.DatetimeIndex(ds["date"].values)
    if dates.has_duplicates:
        raise ValueError(
            f"dates present in more than one shard: {sorted(set(dates[dates.duplicated()].strftime('%Y-%m-%d %H:%M')))}"
        )
    if expected is not None:
        exp = pd.DatetimeIndex([pd.Timestamp(t) for t in expected])
        skipped_idx = pd.DatetimeIndex([pd.Timestamp(s) for s in skipped])
        missing = exp.difference(dates).difference(skipped_idx)
        if len(missing):
            listed = ", ".join(f"{t:%Y-%m-%d %H:%M}" for t in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise ValueError(f"incomplete latent shards: {len(missing)} dates missing: {listed}{more}")
    ds.attrs["skipped_dates"] = ",".join(skipped)
    ds.attrs["skipped_reasons"] = json.dumps(dict(sorted(reasons.items())), sort_keys=True)
    log.info("combined %d shards: %d dates, %d skipped", len(paths), len(dates), len(skipped))
    return ds


def feature_matrix(ds: xr.Dataset, region: str, levels: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Features ``(date, latent_level * stat * channel)`` of one region, with their names.

    Args:
        ds: Pooled latents (``pooled`` of dims ``(date, region, latent_level, stat,
            channel)``).
        region: Region to take (``pca.region``).
        levels: Latent-level names to keep (``pca.levels``; None: all). Ignored for
            pooled latents of the published geometry (one latent level, ``all``).

    Returns:
        ``(X, names)``: ``X`` float64 ``(date, feature)``, ``names`` as
        ``"<latent level>/<stat>/<channel>"``.

    Raises:
        ValueError: naming ``pca.region`` for a region not in ``ds``, or ``pca.levels``
            for latent levels not in ``ds``.
    """
    if region not in ds["region"].values:
        raise ValueError(f"pca.region: region {region!r} not in the pooled latents ({list(ds['region'].values)})")
    da = ds["pooled"].sel(region=region)
    present = [str(v) for v in da[LATENT_LEVEL_DIM].values]
    if levels is not None and "all" not in present:
        missing = [lv for lv in levels if lv not in present]
        if missing:
            raise ValueError(f"pca.levels: latent levels {missing} not in the pooled latents ({present})")
        da = da.sel({LATENT_LEVEL_DIM: list(levels)})
    da = da.transpose("date", LATENT_LEVEL_DIM, "stat", "channel")
    names = [
        f"{lv}/{st}/{ch}"
        for lv in da[LATENT_LEVEL_DIM].values
        for st in da["stat"].values
        for ch in da["channel"].values
    ]
    return np.asarray(da.values, dtype=np.float64).reshape(da.sizes["date"], -1), names
