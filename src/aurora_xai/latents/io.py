"""Pooled-latent shards: writing and joining them, and turning them into feature matrices.

Pooled latents hold ``pooled`` of dims ``(date, region, latent_level, stat, channel)``
(:func:`aurora_xai.latents.extract.extract_taps`); ``latent_level`` holds latent-level
names (``surface``, ``atmos_1`` ... or ``all`` for the published geometry), never
pressure levels.

A shard file holds the pooled latents of the analysis tap (``latents.tap``) in its root
group, so that it reads as one dataset with ``xr.open_dataset``, and those of every
further tap extracted in the same forward passes (``latents.taps``) in the group
``taps/<tap>`` (:func:`write_shard`; ``xr.open_dataset(path, group="taps/encoder")``).
Joined over shards, the analysis tap is ``results/latents/pooled.nc`` and every further
tap ``results/latents/pooled_<tap>.nc``, each with the same layout (:func:`pooled_path`,
the one place that names them). Imports without torch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..io import atomic_path
from .geometry import LATENT_LEVEL_DIM

__all__ = [
    "combine_shards",
    "feature_matrix",
    "pooled_files",
    "pooled_name",
    "pooled_path",
    "shard_taps",
    "tap_group",
    "write_shard",
]

log = logging.getLogger(__name__)


def pooled_name(tap: str, analysis_tap: str) -> str:
    """File name of the joined pooled latents of ``tap``: ``pooled.nc`` for the analysis
    tap (``latents.tap``), ``pooled_<tap>.nc`` for every further one."""
    return "pooled.nc" if tap == analysis_tap else f"pooled_{tap}.nc"


def pooled_path(tap: str, analysis_tap: str, folder: str = "results/latents") -> str:
    """The workflow's file of the joined pooled latents of ``tap`` (:func:`pooled_name`)."""
    return f"{folder}/{pooled_name(tap, analysis_tap)}"


def pooled_files(files: Sequence[str | Path], analysis_tap: str, taps: Sequence[str]) -> dict[str, str]:
    """The pooled file of each tap among ``files`` (found by :func:`pooled_name`): the
    analysis tap first, then ``taps`` in order, each once.

    Raises:
        KeyError: naming the tap whose file is not among ``files``.
    """
    by_name = {Path(f).name: str(f) for f in files}
    out = {}
    for tap in dict.fromkeys([analysis_tap, *taps]):
        name = pooled_name(tap, analysis_tap)
        if name not in by_name:
            raise KeyError(f"tap {tap!r}: no {name} among {sorted(by_name)}")
        out[tap] = by_name[name]
    return out


def tap_group(tap: str) -> str:
    """The group of a shard file holding the pooled latents of a further ``tap``."""
    return f"taps/{tap}"


def write_shard(datasets: Mapping[str, xr.Dataset], analysis_tap: str, path: str | Path) -> None:
    """Write the pooled latents of one shard, every tap in one file, atomically.

    Args:
        datasets: Tap -> pooled latents (:func:`~aurora_xai.latents.extract.extract_taps`).
        analysis_tap: The tap written to the root group (``latents.tap``); the others go
            to :func:`tap_group`.
        path: The shard file (NetCDF-4).

    Raises:
        KeyError: if ``analysis_tap`` is not among ``datasets``.
    """
    if analysis_tap not in datasets:
        raise KeyError(f"latents.tap: {analysis_tap!r} not among the extracted taps {list(datasets)}")
    with atomic_path(path) as tmp:
        datasets[analysis_tap].to_netcdf(tmp, mode="w", engine="netcdf4")
        for tap, ds in datasets.items():
            if tap != analysis_tap:
                ds.to_netcdf(tmp, mode="a", group=tap_group(tap), engine="netcdf4")


def shard_taps(path: str | Path) -> list[str]:
    """The taps a shard file holds: the root group's first, then the groups', in order."""
    import netCDF4

    with netCDF4.Dataset(str(path)) as nc:
        root = [str(nc.getncattr("tap"))] if "tap" in nc.ncattrs() else []
        extra = list(nc.groups["taps"].groups) if "taps" in nc.groups else []
    return root + extra


def combine_shards(
    paths: Sequence[str | Path], expected: Sequence[str] | None = None, tap: str | None = None
) -> xr.Dataset:
    """Concatenate shard files along ``date`` and check that every expected date is there.

    Dates skipped by the extraction (``data.on_missing: skip``) are recorded in the
    shards' ``skipped_dates`` attribute and are not counted as missing; their reasons
    (``skipped_reasons``, JSON) are joined too.

    Args:
        paths: Shard files.
        expected: Dates every shard together must hold (or have skipped).
        tap: The tap to join (a further tap is read from its group
            :func:`tap_group`); None: the analysis tap, in the root group.

    Raises:
        ValueError: naming the missing dates (and the shards that should hold them) if
            the set is incomplete, or duplicated dates; naming the shard and the taps it
            holds if ``tap`` is not in it.
    """
    if not paths:
        raise ValueError("no latent shards to aggregate")
    parts = []
    skipped: list[str] = []
    reasons: dict[str, str] = {}
    for p in paths:
        group = None
        if tap is not None:
            held = shard_taps(p)
            if tap not in held:
                raise ValueError(f"{p}: no pooled latents of tap {tap!r} (it holds {held}); extract them again")
            group = None if tap == held[0] else tap_group(tap)
        with xr.open_dataset(p, group=group) as ds:
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
        raise ValueError(f"pca.region: region {region!r} not in the pooled latents ({ds['region'].values.tolist()})")
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
