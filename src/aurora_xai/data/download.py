"""Fetching exactly the study's ERA5 subset into a local WeatherBench 2-schema zarr store.

The study needs, per date, the target time and its history step, 4 surface and 5 pressure-
level variables on the configured levels, and the 3 static fields. :func:`download_era5`
fetches them by the configured method: from a cloud store (WeatherBench 2 or ARCO-ERA5),
copied with :func:`~aurora_xai.data.subset.download_subset`, or from the Copernicus CDS,
whose files :mod:`aurora_xai.data.cds` requests and checks before they are copied the same
way. :func:`download_from_request` runs what the workflow's request asks for.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..dates import DateSpec
from .cds import cds_requests, retrieve_cds
from .needs import ALL, StoreReads, needed_fields
from .subset import download_subset
from .variables import LEVELS

__all__ = [
    "WB2_URL",
    "ARCO_URL",
    "study_times",
    "download_era5",
    "download_from_request",
    "download_times",
]

log = logging.getLogger(__name__)

#: The WeatherBench 2 ERA5 store the study reads.
WB2_URL = "gs://weatherbench2/datasets/era5/1959-2023_01_10-wb13-6h-1440x721_with_derived_variables.zarr"
#: The ARCO-ERA5 store (hourly, 37 levels).
ARCO_URL = "gs://gcp-public-data-arco-era5/ar/full_37-1h-0p25deg-chunk-1.zarr-v3"


def download_times(reads: StoreReads) -> pd.DatetimeIndex:
    """The times at which the workflow reads whole samples from ``data.path`` (every rule
    of :data:`~aurora_xai.data.needs.STORE_READERS`), sorted, unique; surface fields read
    alone at other times are in :func:`~aurora_xai.data.needs.needed_fields`."""
    return needed_fields(reads).get(ALL, pd.DatetimeIndex([]))


def study_times(dates: DateSpec) -> pd.DatetimeIndex:
    """Every time the study reads: each target time and its history step, sorted, unique."""
    targets = dates.times()
    return targets.append(targets - dates.history).unique().sort_values()


def download_era5(
    method: str,
    dst_path: str | Path,
    times: Sequence[pd.Timestamp],
    levels: Sequence[int] = LEVELS,
    url: str | None = None,
    cds_dir: str | Path | None = None,
    static_path: str | None = None,
    on_missing: str = "error",
    client=None,
    fields: Mapping[str, Sequence[pd.Timestamp]] | None = None,
    manifest: str | Path | None = None,
    imprecise_times: str = "snap",
) -> Path:
    """Fetch the study's subset into a local WeatherBench 2-schema zarr store (or add to it).

    Args:
        method: ``weatherbench2`` or ``arco`` (read the cloud store, default URLs
            :data:`WB2_URL` / :data:`ARCO_URL`, or ``url``) or ``cds`` (download NetCDF
            files into ``cds_dir`` with :func:`retrieve_cds`, then convert them).
        dst_path: Local zarr store to write or extend (see :func:`download_subset`).
        times: Times of whole samples (see :func:`aurora_xai.data.needs.needed_fields`).
        levels: Pressure levels, hPa.
        fields: Surface variables copied alone at further times, ``{short: times}``.
        manifest: Where to write the manifest of the copy (JSON).
        imprecise_times: ``data.imprecise_times`` for reading the source (see
            :class:`~aurora_xai.data.era5.ERA5Source`).

    Raises:
        ValueError: An unknown method; see :func:`download_subset` and :func:`retrieve_cds`.
    """
    if method in ("weatherbench2", "arco"):
        src = url or (WB2_URL if method == "weatherbench2" else ARCO_URL)
        return download_subset(
            src,
            dst_path,
            times,
            levels,
            source=method,
            static_path=static_path,
            on_missing=on_missing,
            fields=fields,
            manifest=manifest,
            imprecise_times=imprecise_times,
        )
    if method == "cds":
        folder = Path(cds_dir or Path(dst_path).with_suffix(".cds"))
        every = pd.DatetimeIndex(times)
        for ts in (fields or {}).values():  # the CDS files hold whole samples at every time
            every = every.append(pd.DatetimeIndex(ts))
        reqs = cds_requests(every.unique(), levels, folder)
        files = retrieve_cds(reqs, client=client)
        return download_subset(
            files,
            dst_path,
            times,
            levels,
            source="cds",
            static_path=static_path,
            on_missing=on_missing,
            fields=fields,
            manifest=manifest,
            imprecise_times=imprecise_times,
        )
    raise ValueError(f"download.method: expected weatherbench2, arco or cds, got {method!r}")


def download_from_request(
    request: Mapping[str, Any], dst_path: str | Path, manifest: str | Path | None = None, cds_dir: str | None = None
) -> Path:
    """Fetch what a request of :func:`aurora_xai.data.needs.download_request` asks for
    (the workflow rule ``download_era5``), adding to the copy at ``dst_path``.

    Args:
        request: ``{method, url, levels, static_path, on_missing, imprecise_times, fields:
            {field: [ISO times]}}``; field ``*`` is every field of a sample, others surface short names.
        dst_path: The store (``data.path``).
        manifest: The manifest to write beside it.
        cds_dir: Folder of the CDS files (``download.cds_dir``; empty: beside the store).
    """
    fields = {k: pd.DatetimeIndex(v) for k, v in request["fields"].items()}
    times = fields.pop(ALL, pd.DatetimeIndex([]))
    n = len(times) + sum(len(v) for v in fields.values())
    log.info(
        "request: %d sample times%s by %s into %s",
        len(times),
        "".join(f", {k} at {len(v)} more" for k, v in fields.items()),
        request["method"],
        dst_path,
    )
    if not n:
        raise ValueError("download: the settings need no time from the store")
    return download_era5(
        str(request["method"]),
        dst_path,
        times,
        levels=tuple(int(v) for v in request["levels"]),
        url=request["url"] or None,
        cds_dir=cds_dir or None,
        static_path=request["static_path"] or None,
        on_missing=str(request["on_missing"]),
        fields=fields,
        manifest=manifest,
        imprecise_times=str(request.get("imprecise_times", "snap")),
    )
