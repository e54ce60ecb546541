"""The store: every source becomes a :class:`Store`: one or more *parts* (a zarr store is one part, each
NetCDF file or archive member is one), each canonicalised on its own (latitude decreasing,
longitude in [0, 360) increasing, dimensions ``(time, [level,] latitude, longitude)``),
with an index of which part holds each variable at each time and level. Nothing is read
until :meth:`Store.read`, which reads only the requested variable, times, levels and
(optionally) rows and columns. A time (at a level) stored twice, in one file or in two,
is an error naming the file(s), the variable and the time.

What "per time step" orientation handling can see:

* each NetCDF file carries its own latitude coordinate, so files whose latitudes run the
  other way are normalised file by file (a multi-file download may mix them);
* a zarr store has one latitude coordinate for all times: a time step whose *data* were
  written north-south mirrored (the ARCO-ERA5 reports) is invisible in the coordinates and
  is detected from the data in :mod:`aurora_xai.data.era5` (see
  :func:`aurora_xai.data.orientation.latitude_flip_score`).

"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .coords import (
    CANONICAL_DIMS,
    CDS_LEVEL_NAMES,
    CDS_SURFACE_NAMES,
    GRIB_PRESSURE_TYPES,
    IMPRECISE_TIMES,
    LEVEL_AXES,
    cds_dataset,
    fmt_time,
    plain_number,
    snap_times,
    standardise_coords,
    time_encoding,
)
from .files import PartSource
from .grid_conventions import canonicalise_grid

log = logging.getLogger(__name__)

__all__ = ["Store", "UnwrittenChunksError"]


class UnwrittenChunksError(KeyError):
    """A zarr chunk (or shard) holding a requested time step was never written: missing data."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


# --------------------------------------------------------------------------------------
# Chunks never written
# --------------------------------------------------------------------------------------


#: Local zarr arrays of at most this many storage keys are listed whole (once); larger ones,
#: and remote ones, are asked whether the keys of the time steps read exist.
LIST_AT_MOST = 20000


class _ChunkIndex:
    """Which chunks (shards) of the arrays of one zarr store were ever written.

    A chunk that does not exist reads as the array's fill value: with ``fill_value`` 0 a
    time step whose chunks were never written (a region write that did not happen, a copy
    that died) would read as 0 K, 0 Pa, calm. With a NaN fill value (xarray's default for
    floats) such chunks read as NaN, which the NaN checks already treat as missing data
    (zarr does not even write a chunk that is all fill value), so they are not listed.

    Cost: a local array of at most :data:`LIST_AT_MOST` keys is listed once per store open
    (measured: 9-20 ms for 124 chunks, against 30-50 ms for reading one sample of 2 steps
    on a 1.5 deg grid; later reads cost nothing more). Larger local arrays and remote ones
    are asked per read whether the storage keys of the time steps read exist, concurrently
    (a stat per key locally; on a remote store as many requests as the chunks the read
    fetches anyway, in one round of concurrent requests), so no job lists a whole remote
    variable (ARCO-ERA5 has over a million time steps).

    Limits: with sharding (zarr v3) a shard that exists may still lack inner chunks; those
    read as the fill value unseen here (the plausibility bands catch a constant 0 K or
    0 Pa). A chunk that zarr skipped because it equalled a non-NaN fill value
    (``write_empty_chunks=False``) is indistinguishable from one never written and counts
    as missing; no field Aurora reads is exactly constant over a whole chunk.
    """

    def __init__(self, source: PartSource) -> None:
        self.source = source
        self._arrays: dict[str, object] = {}
        self._listed: dict[str, frozenset[str]] = {}

    def array(self, name: str):
        if name not in self._arrays:
            self._arrays[name] = self.source.group[name]
        return self._arrays[name]

    def fill_value(self, name: str):
        return plain_number(self.array(name).metadata.fill_value)

    def _dims(self, name: str) -> tuple[str, ...]:
        arr = self.array(name)
        dims = getattr(arr.metadata, "dimension_names", None)
        if dims is None:
            dims = arr.attrs.get("_ARRAY_DIMENSIONS")
        return tuple(str(d) for d in dims) if dims is not None else ()

    def _present(self, name: str, keys: list[str]) -> np.ndarray:
        """Whether each storage key (relative to the array) exists."""
        from zarr.core.sync import sync

        arr = self.array(name)
        store, prefix = arr.store_path.store, arr.store_path.path
        if not self.source.remote and int(np.prod(arr._shard_grid_shape)) <= LIST_AT_MOST:
            if name not in self._listed:

                async def listing() -> list[str]:
                    return [k async for k in store.list_prefix(prefix)]

                cut = len(prefix) + 1 if prefix else 0
                self._listed[name] = frozenset(k[cut:] for k in sync(listing()))
            listed = self._listed[name]
            return np.array([k in listed for k in keys], dtype=bool)

        async def ask() -> list[bool]:
            import asyncio

            full = [f"{prefix}/{k}" if prefix else k for k in keys]
            return list(await asyncio.gather(*(store.exists(k) for k in full)))

        return np.array(sync(ask()), dtype=bool)

    def unwritten(self, name: str, positions: np.ndarray | None) -> tuple[dict[int, int], int]:
        """The time positions of ``name`` whose chunks were not all written.

        Args:
            name: Array name in the store.
            positions: Positions along its time axis; None: the whole array (a static field).

        Returns:
            ``({position: unwritten chunks}, chunks per time step)``; for a static field the
            key is -1.
        """
        fill = self.fill_value(name)
        if isinstance(fill, float) and np.isnan(fill):
            return {}, 0  # chunks never written read as NaN: the NaN checks see them
        arr = self.array(name)
        grid = tuple(int(g) for g in arr._shard_grid_shape)
        per_step = int(np.prod(grid))
        dims = self._dims(name)
        axis = next((k for k, d in enumerate(dims) if d in ("time", "valid_time")), None)
        if positions is None or axis is None:
            keys = list(arr._iter_shard_keys())
            missing = int((~self._present(name, keys)).sum())
            return ({-1: missing} if missing else {}), per_step
        step = int((arr.shards or arr.chunks)[axis])
        per_step //= grid[axis]
        blocks = sorted({int(p) // step for p in np.atleast_1d(positions)})
        keys: list[str] = []
        for b in blocks:
            origin = [0] * len(grid)
            origin[axis] = b
            shape = list(grid)
            shape[axis] = 1
            keys.extend(arr._iter_shard_keys(origin=origin, selection_shape=shape))
        present = self._present(name, keys).reshape(len(blocks), per_step)
        lacking = {b: int(n) for b, n in zip(blocks, (~present).sum(axis=1)) if n}
        return {
            int(p): lacking[int(p) // step] for p in np.atleast_1d(positions) if int(p) // step in lacking
        }, per_step


class Store:
    """Lazily indexed fields of one source in WeatherBench 2 names and canonical grid.

    A variable may be spread over several parts by time (one file per month), by level
    (one file per pressure level) or both; a time counts as stored for a level variable
    when all of the variable's levels are stored at it. Variables with an axis other than
    ``time``, ``level``, ``latitude`` and ``longitude`` are not offered (the error for a
    missing variable says where such a variable was seen).

    Args:
        parts: ``(label, dataset)`` pairs; each dataset canonicalised already. The label
            names the part in messages (a file, or ``archive::member``).
        source: The adapter that built it (for messages).
        path: What the user gave as ``data.path``.
        valid: Optional ``(start, stop)``: only times in this closed span are offered.
        sources: Optional, one per part: where it came from (zarr parts: the chunk
            listing that tells time steps never written; see :meth:`read`).
        imprecise_times: ``"snap"`` or ``"error"``: a time axis stored with too little
            precision (see :func:`snap_times`).

    Raises:
        ValueError: No parts, or parts on different grids (naming both).
    """

    def __init__(
        self,
        parts: Sequence[tuple[str, xr.Dataset]],
        source: str,
        path: str,
        valid: tuple[pd.Timestamp, pd.Timestamp] | None = None,
        sources: Sequence[PartSource | None] | None = None,
        imprecise_times: str = "snap",
    ) -> None:
        if not parts:
            raise ValueError(f"data.path {path}: nothing to read")
        if imprecise_times not in IMPRECISE_TIMES:
            raise ValueError(f"data.imprecise_times: expected one of {list(IMPRECISE_TIMES)}, got {imprecise_times!r}")
        self.imprecise_times = imprecise_times
        self.sources: list[PartSource | None] = list(sources) if sources is not None else [None] * len(parts)
        self._chunks = {i: _ChunkIndex(src) for i, src in enumerate(self.sources) if src is not None and src.group}
        self._part_times: dict[int, pd.DatetimeIndex] = {}
        self.source = source
        self.path = path
        self.valid = valid
        self.parts = [ds for _, ds in parts]
        self.labels = [label for label, _ in parts]
        first = self.parts[0]
        self.lat = np.asarray(first["latitude"].values, dtype=np.float64)
        self.lon = np.asarray(first["longitude"].values, dtype=np.float64)
        for label, ds in zip(self.labels[1:], self.parts[1:]):
            lat, lon = ds["latitude"].values, ds["longitude"].values
            if (
                lat.shape != self.lat.shape
                or lon.shape != self.lon.shape
                or not (np.allclose(lat, self.lat) and np.allclose(lon, self.lon))
            ):
                raise ValueError(
                    f"{label}: grid {lat.size}x{lon.size} differs from {self.labels[0]} "
                    f"({self.lat.size}x{self.lon.size}); all files of one source need the same grid"
                )
        # time-dependent variable -> the parts holding it; the time index of a set of
        # parts is built on first use and shared (the ARCO store has ~270 variables on
        # an hourly axis of ~1.3 million times)
        self._holders: dict[str, tuple[int, ...]] = {}
        self._static: dict[str, tuple[int, xr.DataArray]] = {}
        self._frames: dict[tuple, tuple[pd.DataFrame, dict[int, pd.DataFrame]]] = {}
        self._complete: dict[str, pd.DatetimeIndex] = {}
        self._part_levels: dict[int, np.ndarray] = {}
        self._level_vars: dict[str, bool] = {}
        holders: dict[str, list[int]] = {}
        for i, ds in enumerate(self.parts):
            for name, da in ds.data_vars.items():
                if "latitude" not in da.dims or "longitude" not in da.dims:
                    continue
                if any(d not in CANONICAL_DIMS for d in da.dims):
                    continue  # an axis we cannot interpret: see _require
                if "time" not in da.dims:
                    self._static.setdefault(str(name), (i, da))
                else:
                    holders.setdefault(str(name), []).append(i)
        self._holders = {name: tuple(ids) for name, ids in holders.items()}

    # ----------------------------------------------------------------------------------
    def _levels_of(self, part: int) -> np.ndarray:
        """Pressure levels (whole hPa) of one part."""
        if part not in self._part_levels:
            ds = self.parts[part]
            values = ds["level"].values if "level" in ds.coords else []
            self._part_levels[part] = np.array([int(round(float(v))) for v in np.atleast_1d(values)], dtype=np.int64)
        return self._part_levels[part]

    def _has_levels(self, name: str) -> bool:
        if name not in self._level_vars:
            self._level_vars[name] = any("level" in self.parts[i][name].dims for i in self._holders[name])
        return self._level_vars[name]

    def _frames_of(self, name: str) -> tuple[pd.DataFrame, dict[int, pd.DataFrame]]:
        """``DataFrame(index=time, columns=[part, pos])`` of the valid times of ``name``, and one per part.

        Raises:
            ValueError: A time stored twice in one file, or (at a common level) in two
                files, naming the file(s), the variable and the time.
        """
        key = (self._holders[name], self._has_levels(name))
        if key not in self._frames:
            pieces: dict[int, pd.DataFrame] = {}
            for i in key[0]:
                times = self._times_of_part(i)
                if times.has_duplicates:
                    dup = times[times.duplicated()].unique()
                    more = f" ({len(dup)} times are stored more than once)" if len(dup) > 1 else ""
                    raise ValueError(
                        f"{self.labels[i]}: time {fmt_time(dup[0])} is stored twice in this file "
                        f"(variable {name!r}){more}; drop the repeats (e.g. xarray's "
                        "ds.drop_duplicates('time')) or fetch the times once"
                    )
                keep = np.ones(len(times), dtype=bool)
                if self.valid is not None:
                    keep = (times >= self.valid[0]) & (times <= self.valid[1])
                pieces[i] = pd.DataFrame({"part": i, "pos": np.flatnonzero(keep)}, index=times[keep])
            frame = pd.concat(pieces.values()) if len(pieces) > 1 else next(iter(pieces.values()))
            if len(pieces) > 1 and frame.index.has_duplicates:
                self._check_overlaps(name, frame, key[1])
            self._frames[key] = (frame.sort_index(kind="stable"), pieces)
        return self._frames[key]

    def _times_of_part(self, i: int) -> pd.DatetimeIndex:
        """The stored times of one part, snapped where its axis cannot hold them exactly (:func:`snap_times`)."""
        if i not in self._part_times:
            coord = self.parts[i]["time"]
            self._part_times[i] = snap_times(
                pd.DatetimeIndex(coord.values), coord, self.labels[i], self.imprecise_times
            )
        return self._part_times[i]

    def time_axis_note(self, name: str) -> str:
        """How the time axis of ``name`` is stored, when it is floating point (for messages), else ``""``."""
        for i in self._holders.get(name, ()):
            enc = time_encoding(self.parts[i]["time"])
            if enc is not None:
                return f"its time axis is stored as {enc[0].name} in {enc[1]!r}"
        return ""

    def fill_value(self, name: str):
        """The value a missing cell of ``name`` is stored as: the zarr array's ``fill_value``, or the
        ``_FillValue``/``missing_value`` the file declares; None if none."""
        self._require(name)
        ids = list(self._holders.get(name, ())) + ([self._static[name][0]] if name in self._static else [])
        for i in ids:
            if i in self._chunks:
                return self._chunks[i].fill_value(name)
            enc = self.parts[i][name].encoding
            for key in ("_FillValue", "missing_value"):
                if enc.get(key) is not None:
                    return plain_number(np.asarray(enc[key]).ravel()[0])
        return None

    def unwritten_static(self, name: str) -> str | None:
        """A description of the chunks of static field ``name`` never written (zarr), or None."""
        if name not in self._static:
            return None
        i = self._static[name][0]
        if i not in self._chunks:
            return None
        lack, total = self._chunks[i].unwritten(name, None)
        if not lack:
            return None
        return (
            f"{lack[-1]} of {total} chunks of {name!r} were never written in {self.labels[i]} "
            f"(they read as the array's fill value {self._chunks[i].fill_value(name)})"
        )

    def unmasked_static(self, name: str) -> xr.DataArray | None:
        """Static field ``name`` decoded without masking its fill value (scale and offset applied).

        The same ``(latitude, longitude)`` orientation as :meth:`static_field`; None where the
        part cannot be reopened.
        """
        self._require(name)
        if name in self._static:
            i, pos = self._static[name][0], None
        else:
            frame = self._frame(name)
            if not len(frame):
                return None
            i, pos = int(frame["part"].iloc[0]), int(frame["pos"].iloc[0])
        src = self.sources[i]
        if src is None or src.reopen is None:
            return None
        raw = src.reopen()
        stored = name if name in raw.variables else None
        if stored is None:  # a CDS file: its own short name
            stored = next((s for s, n in CDS_SURFACE_NAMES.items() if n == name and s in raw.variables), None)
        if stored is None:
            return None
        for key in ("_FillValue", "missing_value"):
            raw[stored].attrs.pop(key, None)
            raw[stored].encoding.pop(key, None)
        decoded = xr.decode_cf(raw[[stored]])
        if stored == name:
            ds = canonicalise_grid(standardise_coords(decoded, self.labels[i]))
        else:
            ds = cds_dataset(decoded, self.labels[i])
        if name not in ds:
            return None
        field = ds[name]
        return field.isel(time=pos).load() if pos is not None else field.load()

    def _frame(self, name: str) -> pd.DataFrame:
        return self._frames_of(name)[0]

    def _check_overlaps(self, name: str, frame: pd.DataFrame, has_levels: bool) -> None:
        """Raise unless parts sharing a time hold disjoint levels of ``name`` there."""
        dup = frame[frame.index.duplicated(keep=False)]
        combos = dup.groupby(level=0, sort=True)["part"].agg(tuple)
        seen: set[tuple[int, ...]] = set()
        for t, combo in combos.items():
            if combo in seen:
                continue
            seen.add(combo)
            for k, a in enumerate(combo):
                for b in combo[k + 1 :]:
                    common = np.intersect1d(self._levels_of(a), self._levels_of(b)) if has_levels else None
                    if has_levels and not common.size:
                        continue
                    at = f" at level(s) {common.tolist()} hPa" if has_levels else ""
                    raise ValueError(
                        f"variable {name!r}: time {fmt_time(t)}{at} is stored in two files, "
                        f"{self.labels[a]} and {self.labels[b]}; keep one of them (overlapping downloads?)"
                    )

    # ----------------------------------------------------------------------------------
    @property
    def variables(self) -> list[str]:
        """Names of all fields (time-dependent and static), sorted."""
        return sorted(set(self._holders) | set(self._static))

    def has_variable(self, name: str) -> bool:
        return name in self._holders or name in self._static

    def times(self, name: str) -> pd.DatetimeIndex:
        """Valid times at which ``name`` is stored (at all of its levels), sorted, unique."""
        self._require(name)
        if name not in self._holders:
            return pd.DatetimeIndex([])
        if name not in self._complete:
            frame = self._frame(name)
            if not frame.index.has_duplicates:
                index = pd.DatetimeIndex(frame.index)
            else:  # split by level: a time is stored when every level is
                nlev = frame["part"].map(lambda i: len(self._levels_of(int(i))))
                counts = nlev.groupby(level=0).sum()
                index = pd.DatetimeIndex(counts.index[counts.values == len(self.levels(name))])
            self._complete[name] = index
        return self._complete[name]

    def levels(self, name: str) -> list[int]:
        """Pressure levels (hPa) of a level variable.

        The stored order when every part holding it has the same levels, else the union
        of its parts' levels, ascending. Empty for a variable without levels.
        """
        self._require(name)
        if name not in self._holders or not self._has_levels(name):
            return []
        sets = [self._levels_of(i) for i in self._holders[name] if "level" in self.parts[i][name].dims]
        if all(np.array_equal(s, sets[0]) for s in sets[1:]):
            return [int(v) for v in sets[0]]
        return sorted({int(v) for s in sets for v in s})

    def is_static(self, name: str) -> bool:
        return name in self._static and name not in self._holders

    def units(self, name: str) -> dict[str, str | None]:
        """The ``units`` attribute of ``name`` in each file holding it: ``{file: units or None}``."""
        self._require(name)
        ids = list(self._holders.get(name, ())) + ([self._static[name][0]] if name in self._static else [])
        return {self.labels[i]: self.parts[i][name].attrs.get("units") for i in dict.fromkeys(ids)}

    def _require(self, name: str) -> None:
        if self.has_variable(name):
            return
        files = self.labels if len(self.labels) <= 6 else [*self.labels[:5], f"... {len(self.labels) - 5} more"]
        msg = f"variable {name!r} not in {self.source} store {self.path}"
        if len(self.labels) > 1 or self.labels[0] != self.path:
            msg += f" (files: {', '.join(files)})"
        notes = []
        raw = {name} | {s for table in (CDS_SURFACE_NAMES, CDS_LEVEL_NAMES) for s, n in table.items() if n == name}
        for label, ds in zip(self.labels, self.parts):
            for r in sorted(raw & {str(v) for v in ds.data_vars}):
                dims = tuple(str(d) for d in ds[r].dims)
                odd = [d for d in dims if d not in CANONICAL_DIMS]
                if odd:
                    notes.append(
                        f"{label} has {r!r} with dimensions {dims}: {odd} is not a pressure axis this reader "
                        f"knows ({', '.join(LEVEL_AXES)}) nor time"
                    )
                elif r != name and ds[r].attrs.get("GRIB_typeOfLevel") in GRIB_PRESSURE_TYPES:
                    notes.append(f"{label} has {r!r} on a pressure level (GRIB_typeOfLevel) but no pressure coordinate")
        if name == "geopotential_at_surface" and "geopotential" in self._holders:
            where = ", ".join(self.labels[i] for i in self._holders["geopotential"][:3])
            notes.append(
                f"the 'z' in {where} has pressure levels: it is the geopotential, not the surface geopotential; "
                "the static 'z' comes from a single-level file ('geopotential' of reanalysis-era5-single-levels) "
                "or data.static_path"
            )
        if notes:
            msg += "; " + "; ".join(notes)
        raise KeyError(f"{msg}; available: {self.variables}")

    def static_field(self, name: str) -> xr.DataArray:
        """A static field as a lazy ``(latitude, longitude)`` array.

        Time-dependent copies (CDS single-level files and ARCO store the invariant
        fields at every time) give their first valid time.

        Raises:
            KeyError: ``name`` is in no part (the message names the files searched).
            ValueError: It has no valid time, or has pressure levels (naming the file).
        """
        self._require(name)
        if name in self._static:
            return self._static[name][1]
        frame = self._frame(name)
        if not len(frame):
            raise ValueError(f"static field {name!r} has no valid time in {self.path}")
        part, pos = int(frame["part"].iloc[0]), int(frame["pos"].iloc[0])
        da = self.parts[part][name].isel(time=pos)
        if "level" in da.dims:
            raise ValueError(f"{self.labels[part]}: {name!r} has pressure levels; it cannot be a static field")
        return da

    def read(
        self,
        name: str,
        times: Sequence[pd.Timestamp],
        levels: Sequence[int] | None = None,
        rows: np.ndarray | None = None,
        cols: np.ndarray | None = None,
        unwritten: dict | None = None,
    ) -> np.ndarray:
        """Read one variable at ``times``: float32 ``(time, [level,] lat, lon)``, C-contiguous.

        Only the requested times, levels (default: all, in :meth:`levels` order), rows and
        columns are indexed; a zarr store reads the chunks holding them, a NetCDF file the
        hyperslabs, each from the part that holds them.

        In a zarr store, a time step any of whose chunks (shards) of ``name`` was never
        written is missing data, not the fill value it would read as (see
        :class:`_ChunkIndex`): without ``unwritten`` it raises; with a dict, such steps are
        NaN in the result and recorded there as ``{time: why}``.

        Raises:
            KeyError: A time not stored (naming the first; callers check with
                :meth:`times` first) or a level in no part (naming it and the file).
            UnwrittenChunksError: (a ``KeyError``) chunks of a requested time step never
                written, naming the variable, the time, the store and the array's fill value.
        """
        self._require(name)
        frame, per_part = self._frames_of(name)
        times = pd.DatetimeIndex(times)
        missing = times.difference(self.times(name))
        if len(missing):
            raise KeyError(f"time {fmt_time(missing[0])} not stored for {name!r}")
        want = None
        if self._has_levels(name):
            want = np.asarray(self.levels(name) if levels is None else [int(v) for v in levels], dtype=np.int64)
        if not len(times):
            shape = (0,) + (() if want is None else (len(want),))
            shape += (len(self.lat) if rows is None else len(rows), len(self.lon) if cols is None else len(cols))
            return np.empty(shape, dtype=np.float32)
        involved = pd.unique(frame.loc[times.unique(), "part"])
        out: np.ndarray | None = None
        lacking: dict[int, str] = {}
        filled = np.zeros((len(times), 1 if want is None else len(want)), dtype=bool)
        for part_id in involved:
            part_id = int(part_id)
            fp = per_part[part_id]
            hit = fp.index.get_indexer(times)
            j = np.flatnonzero(hit >= 0)
            pos = fp["pos"].values[hit[j]]
            order = np.argsort(pos, kind="stable")
            j, pos = j[order], pos[order]
            da = self.parts[part_id][name]
            if part_id in self._chunks:
                ci = self._chunks[part_id]
                lack, per_step = ci.unwritten(name, pos)
                for jj, pp in zip(j, pos):
                    if int(pp) in lack and int(jj) not in lacking:
                        lacking[int(jj)] = (
                            f"{lack[int(pp)]} of {per_step} chunks of {name!r} at time {fmt_time(times[jj])} were "
                            f"never written in {self.labels[part_id]} (they read as the array's fill value "
                            f"{ci.fill_value(name)}): missing data"
                        )
            key: list = [pos]
            li = np.array([0])
            if want is not None:
                stored = self._levels_of(part_id)
                li = np.flatnonzero(np.isin(want, stored))
                if not li.size:
                    continue
                key.append(np.array([int(np.flatnonzero(stored == lv)[0]) for lv in want[li]]))
            key.append(slice(None) if rows is None else np.asarray(rows))
            key.append(slice(None) if cols is None else np.asarray(cols))
            arr = np.asarray(da.variable[_as_slices(key)].values)
            if out is None and np.array_equal(j, np.arange(len(times))) and (want is None or li.size == len(want)):
                # one part holds every time and level, in order: the read is the result (a copy
                # only if xarray holds the part in memory, whose views must not be handed out)
                in_memory = getattr(da.variable, "_in_memory", True)
                out = np.array(arr, dtype=np.float32, copy=True if in_memory else None)
                filled[:] = True
                continue
            if out is None:
                lead = (len(times),) if want is None else (len(times), len(want))
                out = np.empty(lead + arr.shape[1 if want is None else 2 :], dtype=np.float32)
            if want is None:
                out[j] = arr
            else:
                out[j[:, None], li[None, :]] = arr
            filled[j[:, None], li[None, :]] = True
        if out is None or not filled.all():  # only a level can be missing here
            jj, kk = np.argwhere(~filled)[0]
            holders = [self.labels[int(p)] for p in involved]
            stored = {int(v) for p in involved for v in self._levels_of(int(p))}
            raise KeyError(
                f"data.levels: level {int(want[kk])} hPa of {name!r} at {fmt_time(times[jj])} "
                f"not in {', '.join(holders)} (it has {sorted(stored)})"
            )
        if lacking:
            if unwritten is None:
                first = min(lacking)
                more = f" ({len(lacking)} of the times read are)" if len(lacking) > 1 else ""
                raise UnwrittenChunksError(f"{lacking[first]}{more}")
            rows_bad = np.array(sorted(lacking))
            out[rows_bad] = np.nan
            for jj in rows_bad:
                unwritten.setdefault(pd.Timestamp(times[jj]), lacking[int(jj)])
        return np.ascontiguousarray(out)


def _as_slices(key: Sequence) -> tuple:
    """Index arrays that are ascending runs (``[4, 5, 6]``) as slices (``4:7``), others as given.

    The same selection; a zarr store then copies whole chunks instead of fancy-indexing each
    (measured: 2.5 times less CPU per chunk, all of it in zarr's single I/O thread).
    """
    out = []
    for k in key:
        if isinstance(k, np.ndarray) and k.ndim == 1 and k.size and k.dtype.kind in "iu" and np.all(np.diff(k) == 1):
            out.append(slice(int(k[0]), int(k[-1]) + 1))
        else:
            out.append(k)
    return tuple(out)
