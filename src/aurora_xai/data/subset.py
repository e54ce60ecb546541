"""Copying any readable ERA5 source into a local WeatherBench 2-schema zarr store.

:func:`download_subset` reads the fields at the requested times from any source the
readers understand (a WeatherBench 2 or ARCO-ERA5 store, local or ``gs://``, or CDS
NetCDF files) and writes them, canonicalised, into a local zarr store in the
WeatherBench 2 schema, which the workflow then reads with ``data.source: weatherbench2``.

The copy is written to ``<dst>.tmp`` in blocks of times and renamed when complete; an
interrupted copy resumes after the last block complete in ``<dst>.tmp``. Within a block,
dask threads read, check and write the chunks in parallel with bounded memory (see
:func:`download_subset`). A record in the store (:func:`copy_record`) lists what each
variable holds, and :func:`write_manifest` writes it beside the store as JSON.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dask
import dask.array
import numpy as np
import pandas as pd
import xarray as xr
import zarr

from ..logs import duration_text
from .era5 import ERA5Source, MissingTimeError, open_source
from .lazy import GROUP_BYTES, lazy_steps, step_bytes
from .variables import LEVELS, LONG_NAMES, UNITS, WB2_NAMES

__all__ = ["copy_record", "default_threads", "download_subset", "manifest_path", "write_manifest"]

log = logging.getLogger(__name__)


def default_threads() -> int:
    """Dask threads of a parallel copy: one per CPU, 2 to 8 (memory: about 0.4 GB each at 0.25 deg)."""
    return min(8, max(2, os.cpu_count() or 1))


def _block_dataset(
    src: ERA5Source,
    times: Sequence[pd.Timestamp],
    lazy: bool = True,
    group_bytes: int = GROUP_BYTES,
    skip_empty: bool = False,
) -> xr.Dataset:
    """The fields of one block of times in the WeatherBench 2 schema (without static fields).

    ``lazy``: dask-backed, read when written, in groups of whole stored chunks of up to
    ``group_bytes`` (see :func:`aurora_xai.data.lazy.lazy_steps`); otherwise read now with
    :meth:`ERA5Source.read_steps <aurora_xai.data.era5.ERA5Source.read_steps>` (numpy).
    ``skip_empty``: steps stored entirely as NaN are copied as they are (and recorded in
    ``src.empty_steps``) rather than raising.
    """
    if lazy:
        return lazy_steps(src, pd.DatetimeIndex(times), group_bytes=group_bytes, skip_empty=skip_empty)
    fields = src.read_steps(times, skip_empty=skip_empty)
    coords = {
        "time": pd.DatetimeIndex(times).values.astype("datetime64[ns]"),
        "level": np.asarray(src.levels, dtype=np.int64),
        "latitude": src.lat,
        "longitude": src.lon,
    }
    data_vars = {}
    for name, arr in fields.items():
        dims = ("time", "level", "latitude", "longitude") if arr.ndim == 4 else ("time", "latitude", "longitude")
        data_vars[name] = xr.Variable(
            dims, arr, {"units": UNITS.get(name, ""), "long_name": LONG_NAMES.get(name, name)}
        )
    return xr.Dataset(data_vars, coords=coords)


def _create_store(
    tmp: Path, src: ERA5Source, times: pd.DatetimeIndex, attrs: Mapping[str, str], compress: bool
) -> None:
    """Write the empty copy: metadata, coordinates, static fields; the fields' chunks come later.

    Every time-dependent variable spans all ``times`` from the start (one time per chunk,
    chunks written block by block into their region), so a block is complete once its
    region is written, and a rerun finds the whole request in the time coordinate.
    """
    ny, nx, nl = len(src.lat), len(src.lon), len(src.levels)
    enc_extra: dict[str, Any] = {} if compress else {"compressors": None}
    data_vars: dict[str, xr.Variable] = {}
    encoding: dict[str, dict[str, Any]] = {}
    for kind in ("surf", "atmos"):
        for name in src.names[kind].values():
            dims = ("time", "level", "latitude", "longitude") if kind == "atmos" else ("time", "latitude", "longitude")
            shape = (len(times), nl, ny, nx) if kind == "atmos" else (len(times), ny, nx)
            empty = dask.array.zeros(shape, chunks=(1,) + shape[1:], dtype=np.float32)
            data_vars[name] = xr.Variable(
                dims, empty, {"units": UNITS.get(name, ""), "long_name": LONG_NAMES.get(name, name)}
            )
            encoding[name] = {"chunks": (1,) + shape[1:]} | enc_extra
    for short, name in WB2_NAMES["static"].items():
        data_vars[name] = xr.Variable(
            ("latitude", "longitude"), src.static_arrays[short], {"units": UNITS[name], "long_name": LONG_NAMES[name]}
        )
        encoding[name] = dict(enc_extra)
    coords = {
        "time": times.values.astype("datetime64[ns]"),
        "level": np.asarray(src.levels, dtype=np.int64),
        "latitude": src.lat,
        "longitude": src.lon,
    }
    for name in encoding:
        encoding[name]["_FillValue"] = np.float32(np.nan)  # unwritten chunks read as NaN: missing
    # minutes since the epoch: any later time appended to the axis is stored exactly
    encoding["time"] = {"units": "minutes since 1970-01-01", "calendar": "proleptic_gregorian", "dtype": "int64"}
    ds = xr.Dataset(data_vars, coords=coords, attrs={**attrs, _RECORD: json.dumps({"done": {}})})
    ds.to_zarr(tmp, mode="w", zarr_format=2, consolidated=True, encoding=encoding, compute=False)


def download_subset(
    src_path,
    dst_path: str | Path,
    times: Sequence[pd.Timestamp],
    levels: Sequence[int] = LEVELS,
    source: str = "weatherbench2",
    static_path: str | None = None,
    on_missing: str = "error",
    block: int | None = None,
    compress: bool = True,
    parallel: bool = True,
    threads: int | None = None,
    fields: Mapping[str, Sequence[pd.Timestamp]] | None = None,
    manifest: str | Path | None = None,
    imprecise_times: str = "snap",
) -> Path:
    """Copy the fields at ``times`` on ``levels`` from any readable source into a local zarr,
    adding to an existing copy only what it lacks.

    A first copy goes block by block of ``block`` times into ``<dst>.tmp``, renamed to
    ``dst`` when complete; an interrupted copy resumes after its complete blocks. When
    ``dst`` exists (a copy made earlier, for fewer times or fields) the times it lacks are
    appended to its time axis (which then is in the order fetched, not sorted; the readers
    index it by value) and only the missing (field, time) pairs are read and written, in
    place; nothing in it is deleted. A record in the store's attribute
    ``aurora_xai_copy`` (see :func:`copy_record`) lists, per variable, the times whose
    blocks are complete, so an interrupted extension resumes as well. Each block logs a
    progress line: times done of the total, GB (uncompressed) moved, GB/s, time left.

    With ``parallel`` (the default) a block of whole samples is a lazy dask dataset (see
    :func:`aurora_xai.data.lazy.lazy_steps`) whose groups of time steps (whole stored
    chunks; one time step, 0.29 GB of fields, at 0.25 deg) are read, checked and written
    by ``threads`` threads at once; memory stays at about one group per thread, whatever
    ``block`` (peak RSS 0.9 GB with 2 threads, 1.6 GB with 4, at 0.25 deg). Without it,
    each block is read whole into memory, variable after variable, then written (peak RSS
    3.2 GB for blocks of 8 times at 0.25 deg). Blocks of surface fields alone (``fields``)
    read only those variables.

    Args:
        src_path: Source store/files (``gs://`` URLs are read anonymously).
        dst_path: Local zarr store to write or extend (WeatherBench 2 schema, canonical
            grid, one time per chunk, zarr format 2, consolidated).
        times: Times at which every field a sample needs is copied (targets and history
            steps; see :func:`aurora_xai.data.needs.needed_fields`).
        levels: Pressure levels, hPa.
        source: Schema of the source (``weatherbench2``, ``arco``, ``cds``, ``synthetic``).
        static_path: Separate static-field file, if the source lacks them.
        on_missing: ``error``: a time not in the source raises
            :class:`~aurora_xai.data.era5.MissingTimeError` naming it (before anything is
            written), as does a time step stored entirely as NaN (missing data, as
            ARCO-ERA5 marks it) when its block is read; ``skip``: a time not in the source
            is left out and listed in the attribute ``skipped_times``, a step stored as
            NaN is copied as NaN (the readers of the copy skip it with its reason).
        block: Times per block, the unit of resumption and of progress lines (default 32
            with ``parallel``, 8 without, as the serial copy holds a whole block in memory).
        compress: Compress the chunks (the default codec of zarr).
        parallel: Read and write with dask threads (``False``: the serial copy).
        threads: Dask threads (default :func:`default_threads`).
        fields: Surface variables (Aurora short names, e.g. ``10u``) to copy alone at
            further times: ``{short: times}``. Other variables stay unwritten (NaN) there.
        manifest: Write a JSON manifest of what the copy holds here, atomically, at the
            end (see :func:`write_manifest`).

    Returns:
        ``dst_path`` as a ``Path``.

    Raises:
        MissingTimeError: A requested time is not in the source (``on_missing: error``).
        ValueError: NaN or infinite values (naming variable, level and time), ``block < 1``,
            a field that is not a surface variable, or an existing copy at ``dst`` made
            from another source or without some of ``levels`` (naming both; the copy is
            left as it is: move it away or set ``data.path`` to another folder).
    """
    if block is None:
        block = 32 if parallel else 8
    if block < 1:
        raise ValueError(f"download_subset: block must be at least 1, got {block}")
    dst = Path(dst_path)
    src = open_source(
        source, src_path, levels=levels, static_path=static_path, on_missing=on_missing, imprecise_times=imprecise_times
    )
    surf = dict(src.names["surf"])
    every = tuple(surf.values()) + tuple(src.names["atmos"].values())
    need: dict[pd.Timestamp, set[str]] = {t: set(every) for t in pd.DatetimeIndex(times).unique()}
    for short, ts in (fields or {}).items():
        if short not in surf:
            raise ValueError(
                f"download fields: {short!r} is not a surface variable ({sorted(surf)}); only these are copied alone"
            )
        for t in pd.DatetimeIndex(ts).unique():
            need.setdefault(t, set()).add(surf[short])
    if not need:
        raise ValueError("download_subset: no times to copy")
    missing = sorted(t for t, names in need.items() if not _in_source(src, t, names, every))
    if missing and on_missing != "skip":
        raise MissingTimeError(
            f"{len(missing)} requested time(s) not in {source} store {src_path}, first {missing[0]:%Y-%m-%d %H:%M}"
        )
    for t in missing:
        log.warning("skipping %s: not in %s (on_missing = skip)", f"{t:%Y-%m-%d %H:%M}", src_path)
        del need[t]
    if not need:
        raise MissingTimeError(f"none of the requested times is in {source} store {src_path}")
    keep = pd.DatetimeIndex(sorted(need))
    attrs = {
        "title": "ERA5 subset for aurora-xai (WeatherBench 2 schema)",
        "source": source,
        "source_path": str(src_path) if not isinstance(src_path, (list, tuple)) else ",".join(map(str, src_path)),
        "levels": ",".join(str(v) for v in src.levels),
        "static_path": str(static_path or ""),
        "skipped_times": ",".join(f"{t:%Y-%m-%dT%H:%M}" for t in missing),
        "flipped_times": "",
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    tmp = dst.with_name(dst.name + ".tmp")
    if dst.exists():
        work = dst
        stored = _check_compatible(dst, attrs, every)
        if stored != [int(v) for v in src.levels]:  # fewer levels asked for: fill the copy's levels
            src = open_source(
                source,
                src_path,
                levels=stored,
                static_path=static_path,
                on_missing=on_missing,
                imprecise_times=imprecise_times,
            )
            attrs["levels"] = ",".join(str(v) for v in src.levels)
        log.info("adding to the copy in %s what it lacks", dst)
    else:
        work = tmp
        if not _resume_point(tmp, attrs, every):
            _create_store(tmp, src, keep, attrs, compress)
    record = copy_record(work, every)
    axis = record["times"]
    new = keep.difference(axis)
    if len(new):
        if len(axis):
            log.info("appending %d times to the %d in %s", len(new), len(axis), work)
        _extend_axis(work, new, every, record)
        axis = record["times"]
    group = zarr.open_group(str(work), mode="r+", zarr_format=2, use_consolidated=False)
    if missing:
        skipped = set(filter(None, str(group.attrs.get("skipped_times", "")).split(",")))
        skipped |= {f"{t:%Y-%m-%dT%H:%M}" for t in missing}
        group.attrs["skipped_times"] = ",".join(sorted(skipped))
    blocks = _todo_blocks(axis, need, record["done"], set(every), block)
    n_todo = sum(len(b[1]) for b in blocks)
    n_threads = int(threads) if threads else default_threads()
    # groups small enough that every thread has two per block, at most GROUP_BYTES
    group_bytes = min(GROUP_BYTES, step_bytes(src) * max(1, block // (2 * n_threads)))
    if parallel and n_todo:
        log.info("copying with %d dask threads, blocks of %d times", n_threads, block)
    if not n_todo:
        log.info("%s holds every requested field at every requested time: nothing to copy", work)
    started, moved, done_n = time.perf_counter(), 0.0, 0
    for names, idx in blocks:
        chunk = pd.DatetimeIndex(axis[idx])
        t0 = time.perf_counter()
        if set(names) == set(every):
            ds = _block_dataset(src, chunk, parallel, group_bytes, skip_empty=on_missing == "skip")
        else:
            ds = _surface_block(src, chunk, names, skip_empty=on_missing == "skip")
        region = ds.drop_vars(list(ds.coords))
        if parallel:
            with dask.config.set(scheduler="threads", num_workers=n_threads):
                _write_region(region, work, int(idx[0]))
        else:
            _write_region(region, work, int(idx[0]))
        for name in region.data_vars:
            record["done"][str(name)] = _add_run(record["done"].get(str(name), []), int(idx[0]), int(idx[-1]) + 1)
        flipped = set(filter(None, str(group.attrs.get("flipped_times", "")).split(",")))
        flipped |= {f"{t:%Y-%m-%dT%H:%M}" for t in src.flipped}
        group.attrs.update({_RECORD: json.dumps({"done": record["done"]}), "flipped_times": ",".join(sorted(flipped))})
        gb = sum(v.nbytes for v in region.data_vars.values()) / 1e9
        del ds, region  # the block's arrays go before the next block is read
        moved += gb
        done_n += len(idx)
        now = time.perf_counter()
        left = (n_todo - done_n) * (now - started) / done_n
        log.info(
            "copied %s .. %s (%s): %d/%d times, %.2f GB in %.1f s (%.2f GB/s; %.2f GB/s so far), about %s left",
            f"{chunk[0]:%Y-%m-%d %H:%M}",
            f"{chunk[-1]:%Y-%m-%d %H:%M}",
            "every field" if set(names) == set(every) else ", ".join(names),
            done_n,
            n_todo,
            gb,
            now - t0,
            gb / max(now - t0, 1e-9),
            moved / max(now - started, 1e-9),
            duration_text(left),
        )
    zarr.consolidate_metadata(str(work), zarr_format=2)
    if work == tmp:
        tmp.rename(dst)
    if manifest is not None:
        write_manifest(dst, manifest)
    return dst


#: The store attribute holding the copy's record (JSON): per variable, the runs of time
#: indices ``[start, stop)`` whose blocks are complete.
_RECORD = "aurora_xai_copy"
#: Attributes of a copy that must match for it to be resumed or extended.
_SAME_KEYS = ("source", "source_path")


def _in_source(src: ERA5Source, t: pd.Timestamp, names: set[str], every: tuple[str, ...]) -> bool:
    if set(every) <= names:
        return src.has_step(t)
    return all(t in src.store.times(name) for name in names)


def _add_run(runs: list[list[int]], start: int, stop: int) -> list[list[int]]:
    """Runs ``[start, stop)`` of indices, merged, with ``[start, stop)`` added."""
    out: list[list[int]] = []
    for a, b in sorted([*runs, [start, stop]]):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def _runs_mask(runs: Sequence[Sequence[int]], n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for a, b in runs:
        mask[a:b] = True
    return mask


def copy_record(path: str | Path, names: Sequence[str] | None = None) -> dict[str, Any]:
    """What a copy made by :func:`download_subset` holds.

    Returns:
        ``{"times": DatetimeIndex (the time axis, in stored order), "done": {variable:
        [[start, stop], ...]}}``: runs of indices into ``times`` at which the variable's
        blocks are complete. A copy without a record (made before records were kept, and
        complete, as it was renamed into place) counts as complete for every variable in
        ``names`` (default: every time-dependent variable in it).
    """
    group = zarr.open_group(str(path), mode="r", zarr_format=2, use_consolidated=False)
    with xr.open_zarr(path, consolidated=False, chunks=None) as ds:
        times = pd.DatetimeIndex(ds["time"].values)
        varnames = [str(n) for n, v in ds.data_vars.items() if "time" in v.dims]
    raw = group.attrs.get(_RECORD)
    if raw is None:
        written = group.attrs.get("times_written")
        n = len(times) if written is None else int(written)
        done = {name: [[0, n]] if n else [] for name in (names or varnames)}
    else:
        done = {k: [list(r) for r in v] for k, v in json.loads(raw)["done"].items()}
    return {"times": times, "done": done}


def _check_compatible(path: Path, attrs: Mapping[str, str], every: Sequence[str]) -> list[int]:
    """Raise unless the copy at ``path`` can be extended for ``attrs`` (never deletes it).

    Returns its pressure levels (hPa, stored order): a superset of those asked for, which
    new times are copied on.
    """
    try:
        group = zarr.open_group(str(path), mode="r", zarr_format=2, use_consolidated=False)
        old = dict(group.attrs)
        with xr.open_zarr(path, consolidated=False, chunks=None) as ds:
            have = set(ds.data_vars)
    except Exception as err:  # noqa: BLE001 - any failure to read it is reported the same way
        raise ValueError(
            f"data.path {path}: there is something there that is not a readable zarr copy ({err}); "
            "it was left as it is: move it away or set data.path to another folder"
        ) from err
    diffs = [f"{k} {old.get(k, '')!r} (now {attrs[k]!r})" for k in _SAME_KEYS if str(old.get(k, "")) != str(attrs[k])]
    if str(old.get("static_path", "")) != str(attrs["static_path"]) and "static_path" in old:
        diffs.append(f"static_path {old.get('static_path')!r} (now {attrs['static_path']!r})")
    stored = {int(v) for v in str(old.get("levels", "")).split(",") if v}
    lacking = [int(v) for v in str(attrs["levels"]).split(",") if int(v) not in stored]
    if lacking:
        diffs.append(f"levels {sorted(stored)} (now also {lacking} hPa)")
    absent = [n for n in every if n not in have]
    if absent:
        diffs.append(f"no variable(s) {absent}")
    if diffs:
        raise ValueError(
            f"data.path {path}: the copy there was made with {'; '.join(diffs)}, so it cannot be extended "
            "for this request (download.method, download.url, data.levels, data.static_path). It was left "
            "as it is: move it away or set data.path to another folder to fetch afresh, or set those keys back"
        )
    return [int(v) for v in str(old.get("levels", "")).split(",") if v]


def _resume_point(tmp: Path, attrs: Mapping[str, str], every: Sequence[str]) -> bool:
    """Whether a previous, interrupted first copy in ``tmp`` can be resumed.

    It can when it has a record and its source, source path, static file and levels equal
    ``attrs``; otherwise (or when unreadable) it is deleted: an unfinished first copy has
    never been the store in ``data.path``.
    """
    if not tmp.exists():
        return False
    reason = ""
    try:
        group = zarr.open_group(str(tmp), mode="r", zarr_format=2, use_consolidated=False)
        old = dict(group.attrs)
        xr.open_zarr(tmp, chunks=None, consolidated=False).close()
    except Exception as err:  # noqa: BLE001 - an unreadable partial copy is started afresh
        old, reason = {}, f"unreadable ({err})"
    if not reason:
        if _RECORD not in old:
            reason = "no record of complete blocks"
        else:
            diff = [k for k in (*_SAME_KEYS, "levels", "static_path") if str(old.get(k, "")) != str(attrs[k])]
            reason = f"other {', '.join(diff)}" if diff else ""
    if not reason:
        log.info("resuming the copy in %s", tmp)
        return True
    log.info("starting the copy in %s afresh: the partial copy there has %s", tmp, reason)
    shutil.rmtree(tmp)
    return False


def _extend_axis(path: Path, new: pd.DatetimeIndex, every: Sequence[str], record: dict[str, Any]) -> None:
    """Append ``new`` times to the time axis of the copy at ``path`` (their fields unwritten, NaN).

    An extension cut short (the axis longer than the record's) is cut back first. The
    time coordinate keeps its stored encoding; a time it cannot represent exactly raises.
    """
    from xarray.coding.times import encode_cf_datetime

    group = zarr.open_group(str(path), mode="r+", zarr_format=2, use_consolidated=False)
    tarr = group["time"]
    units, calendar = tarr.attrs["units"], tarr.attrs.get("calendar", "proleptic_gregorian")
    old = record["times"]
    values, _, _ = encode_cf_datetime(new.values.astype("datetime64[ns]"), units, calendar, dtype=np.dtype(tarr.dtype))
    decoded = pd.DatetimeIndex(xr.coding.times.decode_cf_datetime(values, units, calendar))
    if not decoded.equals(pd.DatetimeIndex(new)):
        raise ValueError(f"{path}: the time coordinate ({units}) cannot hold the new times exactly")
    n0, n1 = len(old), len(old) + len(new)
    for name in every:
        arr = group[name]
        arr.resize((n1, *arr.shape[1:]))
    tarr.resize((n1,))
    tarr[n0:n1] = values
    zarr.consolidate_metadata(str(path), zarr_format=2)
    record["times"] = old.append(pd.DatetimeIndex(new))


def _todo_blocks(
    axis: pd.DatetimeIndex,
    need: Mapping[pd.Timestamp, set[str]],
    done: Mapping[str, Sequence[Sequence[int]]],
    every: set[str],
    block: int,
) -> list[tuple[tuple[str, ...], np.ndarray]]:
    """Blocks ``(variables, indices into axis)`` still to copy: runs of consecutive indices
    with the same variables to write and increasing times, at most ``block`` long. A time
    that needs some of a sample's variables besides surface fields is copied whole."""
    masks = {name: _runs_mask(done.get(name, []), len(axis)) for name in every}
    todo: list[tuple[str, ...] | None] = []
    for i, t in enumerate(axis):
        names = {n for n in need.get(t, ()) if not masks[n][i]}
        if names and not names <= {n for n in every if "level" not in n and n in _SURFACE_NAMES}:
            names = set(every)
        todo.append(tuple(sorted(names)) if names else None)
    out: list[tuple[tuple[str, ...], np.ndarray]] = []
    run: list[int] = []
    for i, names in enumerate(todo + [None]):
        if run and (names != todo[run[-1]] or len(run) == block or axis[i] <= axis[run[-1]]):
            out.append((todo[run[-1]], np.asarray(run)))
            run = []
        if names is not None:
            run.append(i)
    return out


#: The store names of the surface variables (those that may be copied alone).
_SURFACE_NAMES = frozenset(WB2_NAMES["surf"].values())


def _surface_block(src: ERA5Source, times: pd.DatetimeIndex, names: Sequence[str], skip_empty: bool) -> xr.Dataset:
    """Surface variables ``names`` (store names) at ``times``, read alone (no other field).

    A step stored as NaN with ``skip_empty`` stays NaN; otherwise it raises (see
    :meth:`ERA5Source.read_boxes <aurora_xai.data.era5.ERA5Source.read_boxes>`).
    """
    short = {v: k for k, v in src.names["surf"].items()}
    rows, cols = np.arange(len(src.lat)), np.arange(len(src.lon))
    arrays, kept = src.read_boxes([short[n] for n in names], times, rows, cols, skip_empty=skip_empty)
    at = pd.DatetimeIndex(times).get_indexer(kept)
    data_vars = {}
    for name in names:
        arr = np.full((len(times), len(rows), len(cols)), np.nan, dtype=np.float32)
        arr[at] = arrays[short[name]]
        data_vars[name] = xr.Variable(
            ("time", "latitude", "longitude"),
            arr,
            {"units": UNITS.get(name, ""), "long_name": LONG_NAMES.get(name, name)},
        )
    return xr.Dataset(data_vars, coords={"time": times.values.astype("datetime64[ns]")})


def _write_region(ds: xr.Dataset, path: Path, start: int) -> None:
    """Write the block ``ds`` (no coordinates) into its times ``start ..`` of the copy."""
    ds.to_zarr(
        path,
        region={"time": slice(start, start + ds.sizes["time"])},
        zarr_format=2,
        consolidated=False,
        write_empty_chunks=True,  # every chunk holds data: skip zarr's all-fill-value test
    )


def manifest_path(store: str | Path) -> Path:
    """The manifest beside a downloaded store: ``<store>.manifest.json``."""
    store = Path(store)
    return store.with_name(store.name + ".manifest.json")


def write_manifest(path: str | Path, manifest: str | Path) -> dict[str, Any]:
    """Write, atomically, a JSON manifest of the copy at ``path``: what it holds.

    ``{store, source, source_path, levels, static_path, times (the axis, ISO, stored
    order), variables: {name: [ISO times complete]}, blocks: {name: [[start, stop], ...]
    runs of complete indices], skipped_times, flipped_times, written}``. Returns it.
    """
    record = copy_record(path)
    group = zarr.open_group(str(path), mode="r", zarr_format=2)
    attrs = dict(group.attrs)
    iso = [f"{t:%Y-%m-%dT%H:%M}" for t in record["times"]]
    out = {
        "store": str(path),
        **{k: attrs.get(k, "") for k in ("source", "source_path", "static_path")},
        "levels": [int(v) for v in str(attrs.get("levels", "")).split(",") if v],
        "times": iso,
        "variables": {
            name: [iso[i] for a, b in runs for i in range(a, b)] for name, runs in sorted(record["done"].items())
        },
        "blocks": record["done"],
        "skipped_times": [t for t in str(attrs.get("skipped_times", "")).split(",") if t],
        "flipped_times": [t for t in str(attrs.get("flipped_times", "")).split(",") if t],
        "written": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    manifest = Path(manifest)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    part = manifest.with_name(manifest.name + ".part")
    part.write_text(json.dumps(out, indent=1))
    part.replace(manifest)
    return out
