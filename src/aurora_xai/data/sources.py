"""Schema adapters: every ERA5 source seen as one lazily indexed store in WeatherBench 2 names.

``data.source`` picks the adapter:

``synthetic`` / ``weatherbench2``
    A zarr store in the WeatherBench 2 schema (local path or ``gs://`` URL).
``arco``
    The ARCO-ERA5 zarr store (hourly, 37 levels, WeatherBench 2 variable names). Only the
    span between the store's attributes ``valid_time_start`` and ``valid_time_stop`` holds
    data; times outside it are reported as missing. A date-only ``valid_time_stop`` counts
    as the whole day.
``cds``
    NetCDF files downloaded from the Copernicus Climate Data Store: single-level files
    (``t2m, u10, v10, msl`` and the static ``z, lsm, slt``) and pressure-level files
    (``z, u, v, t, q``), one or several of each, split by time, variable or level.
    ``data.path`` is a file, a folder, a glob pattern or a list of those.

What a file holds is told from its content, never from its name
(:mod:`aurora_xai.data.files`, :mod:`aurora_xai.data.formats`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence

import pandas as pd
import xarray as xr

from .coords import cds_dataset, standardise_coords
from .files import PartSource, cds_files, open_part_sources
from .formats import sniff, zip_holds_zarr
from .grid_conventions import canonicalise_grid
from .store import Store

log = logging.getLogger(__name__)

__all__ = ["ADAPTERS", "SOURCES", "CdsFiles", "ZarrStore", "arco_valid_span", "cds_parts", "open_static", "open_store"]


def _zarr_store(path: str, source: str, imprecise_times: str = "snap", padded: bool = False) -> Store:
    opened = open_part_sources(path)
    parts = [(label, canonicalise_grid(standardise_coords(ds, label))) for label, ds, _ in opened]
    valid = None
    if padded:
        valid = arco_valid_span(parts[0][1].attrs, path)
    return Store(
        parts, source=source, path=path, valid=valid, sources=[s for _, _, s in opened], imprecise_times=imprecise_times
    )


def arco_valid_span(attrs: Mapping, path: str = "") -> tuple[pd.Timestamp, pd.Timestamp]:
    """The ``(start, stop)`` span of an ARCO-ERA5 store from its attributes.

    A stop given as a date only (``2025-12-31``) includes that whole day.
    """
    try:
        start = pd.Timestamp(attrs["valid_time_start"])
        stop_raw = str(attrs["valid_time_stop"])
    except KeyError as err:
        raise KeyError(
            f"ARCO store {path} has no attribute {err.args[0]!r}; its valid span is unknown "
            "(use data.source: weatherbench2 for a store without padding)"
        ) from None
    stop = pd.Timestamp(stop_raw)
    if len(stop_raw.strip()) <= 10:  # a date: the whole day is valid
        stop = stop + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    return start, stop


def cds_parts(
    path: str | os.PathLike | Sequence[str | os.PathLike], cache_dir: str | os.PathLike | None = None
) -> list[tuple[str, xr.Dataset]]:
    """The ``(label, dataset)`` parts of CDS file(s) in WeatherBench 2 names (see :func:`cds_files`, :func:`open_parts`).

    Raises:
        FileNotFoundError, ValueError: As :func:`cds_files`, :func:`open_parts` and
            :func:`canonicalise_grid`, naming the file.
    """
    return [(label, ds) for label, ds, _ in _cds_opened(path, cache_dir)]


def _cds_opened(path, cache_dir=None) -> list[tuple[str, xr.Dataset, PartSource]]:
    return [
        (label, cds_dataset(ds, label), src)
        for f in cds_files(path)
        for label, ds, src in open_part_sources(f, cache_dir)
    ]


def _cds_store(path, source: str = "cds", imprecise_times: str = "snap") -> Store:
    opened = _cds_opened(path)
    return Store(
        [(label, ds) for label, ds, _ in opened],
        source=source,
        path=str(path) if isinstance(path, (str, os.PathLike)) else ",".join(map(str, path)),
        sources=[s for _, _, s in opened],
        imprecise_times=imprecise_times,
    )


@dataclasses.dataclass(frozen=True)
class ZarrStore:
    """The adapter of a source that is one zarr store in WeatherBench 2 names.

    Attributes:
        name: The ``data.source`` value.
        padded: Only the span between the store's attributes ``valid_time_start`` and
            ``valid_time_stop`` holds data (ARCO-ERA5, :func:`arco_valid_span`).
    """

    name: str
    padded: bool = False

    def open(self, path, imprecise_times: str = "snap") -> Store:
        if not isinstance(path, (str, os.PathLike)):
            raise ValueError(f"data.path: a {self.name} source is one store, got {path!r}")
        return _zarr_store(str(path), self.name, imprecise_times, padded=self.padded)


@dataclasses.dataclass(frozen=True)
class CdsFiles:
    """The adapter of CDS NetCDF file(s): a file, a folder, a glob pattern or a list of those."""

    name: str

    def open(self, path, imprecise_times: str = "snap") -> Store:
        return _cds_store(path, source=self.name, imprecise_times=imprecise_times)


#: ``data.source`` -> its adapter.
ADAPTERS: dict[str, ZarrStore | CdsFiles] = {
    "synthetic": ZarrStore("synthetic"),
    "weatherbench2": ZarrStore("weatherbench2"),
    "arco": ZarrStore("arco", padded=True),
    "cds": CdsFiles("cds"),
}

#: The values ``data.source`` accepts.
SOURCES: tuple[str, ...] = tuple(ADAPTERS)


def open_store(source: str, path, imprecise_times: str = "snap") -> Store:
    """Open ``path`` with the adapter of ``source`` (one of :data:`SOURCES`).

    ``imprecise_times``: ``"snap"`` or ``"error"`` for a time axis stored with too little
    precision (:func:`~aurora_xai.data.coords.snap_times`).
    """
    if source not in ADAPTERS:
        raise ValueError(f"data.source: expected one of {list(SOURCES)}, got {source!r}")
    return ADAPTERS[source].open(path, imprecise_times)


def _is_zarr(path: str) -> bool:
    """Whether ``path`` is a zarr store (a folder, a zipped store or a ``gs://`` URL), by content."""
    if path.startswith("gs://"):
        return True
    try:
        kind = sniff(path)
        return kind == "zarr" or (kind == "zip" and zip_holds_zarr(path))
    except (OSError, ValueError):
        return False


def open_static(path, imprecise_times: str = "snap") -> Store:
    """Open a separate static-field source: a zarr store (WeatherBench 2 names) or CDS file(s).

    Which one is told from the content. In CDS files, only a ``z`` without a pressure
    axis is the surface geopotential.
    """
    if isinstance(path, (str, os.PathLike)) and _is_zarr(str(path)):
        return _zarr_store(str(path), "static", imprecise_times)
    return _cds_store(path, source="static", imprecise_times=imprecise_times)
