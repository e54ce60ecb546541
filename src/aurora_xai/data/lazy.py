"""The fields of an ERA5 source at many times as one lazy, dask-backed dataset.

:func:`lazy_steps` is the parallel counterpart of :meth:`ERA5Source.read_steps
<aurora_xai.data.era5.ERA5Source.read_steps>`: nothing is read until the dataset is
computed or written; then dask's threads read several groups of time steps at once, each
group with :meth:`~aurora_xai.data.era5.ERA5Source.read_steps` itself, so the content is
the same to the bit (variables, levels, canonical grid, orientation fixes, unit
conversions, NaN and plausibility checks). Callers that move much data (copying the
study's subset, a climatology over many years) use it so that memory stays at a few
groups whatever the number of times.

A group is one or more whole stored chunks of the source (one time step per chunk in the
WeatherBench 2 and ARCO-ERA5 stores), so each chunk is read once; consecutive chunks are
joined up to about :data:`GROUP_BYTES` per group, which keeps the per-read overhead small
on coarse grids (a 0.25 deg time step alone is larger). The result has one dask chunk per
group.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from .era5 import ERA5Source, MissingTimeError
from .variables import LONG_NAMES, UNITS

__all__ = ["GROUP_BYTES", "lazy_steps", "source_time_chunk", "step_groups", "step_bytes"]

#: Bytes of fields read per group at most (unless one stored chunk holds more).
GROUP_BYTES = 128 * 2**20


def source_time_chunk(var: xr.DataArray) -> int:
    """Time steps per stored chunk of a lazily opened variable (1 when unknown or unchunked)."""
    enc = var.encoding
    preferred = enc.get("preferred_chunks") or {}
    if "time" in preferred:
        return max(1, int(preferred["time"]))
    chunks = enc.get("chunks") or enc.get("chunksizes")
    if chunks and "time" in var.dims and len(chunks) == var.ndim:
        return max(1, int(chunks[var.dims.index("time")]))
    return 1


def step_groups(src: ERA5Source, times: pd.DatetimeIndex, max_times: int = 1) -> list[np.ndarray]:
    """Indices into ``times`` (sorted) in groups read together: whole stored chunks.

    Times in one stored time chunk of the source are always in one group; consecutive
    chunks are joined while the group holds at most ``max_times`` times. The chunking is
    that of the source's first surface variable in a one-part store (a zarr store); a
    multi-file source counts one time per chunk.
    """
    parts = src.store.parts
    name = next(iter(src.names["surf"].values()))
    if len(parts) == 1 and name in parts[0].data_vars:
        var = parts[0][name]
        k = source_time_chunk(var)
        pos = pd.DatetimeIndex(var["time"].values).get_indexer(times)
        key = np.where(pos >= 0, pos // k, -1 - np.arange(len(times)))
    else:
        key = np.arange(len(times))
    out: list[list[int]] = []
    for i, kk in enumerate(key):
        if out and (key[out[-1][-1]] == kk or len(out[-1]) < max_times):
            out[-1].append(i)
        else:
            out.append([i])
    return [np.asarray(g) for g in out]


def step_bytes(src: ERA5Source) -> int:
    """Bytes of the fields of one time step: float32, surface and atmospheric on ``src.levels``."""
    return 4 * len(src.lat) * len(src.lon) * (len(src.names["surf"]) + len(src.names["atmos"]) * len(src.levels))


def lazy_steps(
    src: ERA5Source, times: Sequence[pd.Timestamp], group_bytes: int = GROUP_BYTES, skip_empty: bool = False
) -> xr.Dataset:
    """Every needed field of ``src`` at ``times`` as a dask-backed dataset; nothing is read yet.

    The content of :meth:`ERA5Source.read_steps <aurora_xai.data.era5.ERA5Source.read_steps>`
    in the WeatherBench 2 schema: surface variables ``(time, latitude, longitude)``,
    atmospheric ``(time, level, latitude, longitude)`` on ``src.levels``, float32, latitude
    decreasing and longitude in [0, 360), one dask chunk per group of :func:`step_groups`
    (whole stored chunks, up to ``group_bytes``). Computing it reads each group once, in
    dask's threads; the checks of ``read_steps`` run then (mirrored steps flipped back and
    recorded in ``src.flipped``). Memory while computing: a group per busy thread.

    Args:
        src: An opened source.
        times: Times to read, sorted and unique; each must be stored (see ``has_step``).
        group_bytes: Bytes of fields per group at most (at least one stored chunk).
        skip_empty: Passed to ``read_steps``: a step stored entirely as NaN (missing data)
            stays NaN and is recorded in ``src.empty_steps`` instead of raising.

    Raises:
        MissingTimeError: A time is not stored (naming it), before anything is read; when
            computed, whatever ``read_steps`` raises (a NaN names variable, level and time).
        ValueError: ``times`` not sorted and unique.
    """
    times = pd.DatetimeIndex(times)
    if not times.is_monotonic_increasing or times.has_duplicates:
        raise ValueError("lazy_steps: times must be sorted and unique")
    for t in times:
        if not src.has_step(t):
            raise MissingTimeError(f"time {t:%Y-%m-%d %H:%M} is not in {src.source} store {src.path}")
    ny, nx, nl = len(src.lat), len(src.lon), len(src.levels)
    layout: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {}
    for name in src.names["surf"].values():
        layout[name] = (("time", "latitude", "longitude"), (ny, nx))
    for name in src.names["atmos"].values():
        layout[name] = (("time", "level", "latitude", "longitude"), (nl, ny, nx))
    # the source is bound in a closure: dask neither hashes nor rebuilds it
    read = dask.delayed(
        functools.partial(_read_group, src, skip_empty), name=f"read-steps-{uuid.uuid4().hex}", pure=True
    )
    pieces: dict[str, list[da.Array]] = {name: [] for name in layout}
    for g in step_groups(src, times, max_times=max(1, int(group_bytes) // step_bytes(src))):
        group = [times[i] for i in g]
        fields = read(group, dask_key_name=f"read-steps-{uuid.uuid4().hex}")
        for name, (_, tail) in layout.items():
            pieces[name].append(da.from_delayed(fields[name], shape=(len(g),) + tail, dtype=np.float32))
    data_vars = {}
    for name, (dims, _) in layout.items():
        arr = da.concatenate(pieces[name], axis=0) if len(pieces[name]) > 1 else pieces[name][0]
        data_vars[name] = xr.Variable(
            dims, arr, {"units": UNITS.get(name, ""), "long_name": LONG_NAMES.get(name, name)}
        )
    coords = {
        "time": times.values.astype("datetime64[ns]"),
        "level": np.asarray(src.levels, dtype=np.int64),
        "latitude": src.lat,
        "longitude": src.lon,
    }
    return xr.Dataset(data_vars, coords=coords)


def _read_group(src: ERA5Source, skip_empty: bool, times: Sequence[pd.Timestamp]) -> dict[str, np.ndarray]:
    return src.read_steps(times, skip_empty=skip_empty)
