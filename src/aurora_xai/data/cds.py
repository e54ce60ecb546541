"""The Copernicus CDS client: the requests that fetch exactly the study's times, and the files checked.

:func:`cds_requests` builds the exact request dictionaries (one per month and set of
hours, so nothing outside the requested times is fetched), :func:`retrieve_cds` runs them
through ``cdsapi``, and :func:`check_cds_file` makes sure each file holds what its
request asked for before it stands under its final name.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .formats import FileAccessError
from .sources import cds_parts
from .store import Store
from .variables import LEVELS, WB2_NAMES

__all__ = ["CDS_PRESSURE", "CDS_SINGLE", "cds_requests", "check_cds_file", "retrieve_cds"]

log = logging.getLogger(__name__)

CDS_SINGLE = "reanalysis-era5-single-levels"
CDS_PRESSURE = "reanalysis-era5-pressure-levels"


def cds_requests(
    times: Sequence[pd.Timestamp],
    levels: Sequence[int] = LEVELS,
    target_dir: str | Path = ".",
    max_days: int = 31,
    grid: Sequence[float] | None = None,
) -> list[dict[str, Any]]:
    """The CDS requests that fetch exactly ``times`` (and the static fields once).

    CDS requests are cartesian products of year, month, day and hour; times are grouped
    by month and by their set of hours, so that each request's product is a subset of
    ``times`` and together they cover it once.

    Args:
        times: Exact times to fetch.
        levels: Pressure levels, hPa.
        target_dir: Folder of the NetCDF files.
        max_days: Days per request at most (split larger groups; CDS limits request sizes).
        grid: Optional ``[dlat, dlon]`` for CDS-side regridding (default: native 0.25 deg).

    Returns:
        Dicts ``{dataset, request, target, kind}`` with ``kind`` one of ``single``,
        ``pressure``, ``static``.
    """
    times = pd.DatetimeIndex(times).unique().sort_values()
    if not len(times):
        raise ValueError("no times to request")
    target_dir = Path(target_dir)
    base = {"product_type": ["reanalysis"], "data_format": "netcdf", "download_format": "unarchived"}
    if grid is not None:
        base["grid"] = [float(g) for g in grid]
    single_vars = [_cds_var(n) for n in WB2_NAMES["surf"].values()]
    level_vars = list(WB2_NAMES["atmos"].values())
    out: list[dict[str, Any]] = []
    frame = pd.DataFrame({"t": times})
    frame["month"] = frame["t"].dt.strftime("%Y-%m")
    frame["day"] = frame["t"].dt.strftime("%d")
    frame["hour"] = frame["t"].dt.strftime("%H:%M")
    for month, rows in frame.groupby("month", sort=True):
        hours_of_day = rows.groupby("day")["hour"].apply(lambda h: tuple(sorted(set(h))))
        groups: dict[tuple[str, ...], list[str]] = {}
        for day, hours in hours_of_day.items():
            groups.setdefault(hours, []).append(str(day))
        for k, (hours, days) in enumerate(sorted(groups.items())):
            for j in range(0, len(days), max_days):
                sub = sorted(days[j : j + max_days])
                tag = f"{month.replace('-', '')}_{k:02d}{j // max_days:02d}"
                common = {**base, "year": [month[:4]], "month": [month[5:]], "day": sub, "time": list(hours)}
                out.append(
                    {
                        "dataset": CDS_SINGLE,
                        "request": {**common, "variable": single_vars},
                        "target": str(target_dir / f"era5_single_{tag}.nc"),
                        "kind": "single",
                    }
                )
                out.append(
                    {
                        "dataset": CDS_PRESSURE,
                        "request": {**common, "variable": level_vars, "pressure_level": [str(int(v)) for v in levels]},
                        "target": str(target_dir / f"era5_pressure_{tag}.nc"),
                        "kind": "pressure",
                    }
                )
    t0 = times[0]
    out.append(
        {
            "dataset": CDS_SINGLE,
            "request": {
                **base,
                "variable": ["geopotential", "land_sea_mask", "soil_type"],
                "year": [f"{t0:%Y}"],
                "month": [f"{t0:%m}"],
                "day": [f"{t0:%d}"],
                "time": [f"{t0:%H:%M}"],
            },
            "target": str(target_dir / "era5_static.nc"),
            "kind": "static",
        }
    )
    return out


def _cds_var(wb2_name: str) -> str:
    """CDS request names equal the WeatherBench 2 long names for these variables."""
    return wb2_name


#: CDS request variable names that become another store name (per dataset): single-level
#: ``geopotential`` is the surface geopotential.
_CDS_STORE_NAMES: dict[str, dict[str, str]] = {CDS_SINGLE: {"geopotential": "geopotential_at_surface"}}


def _request_times(request: Mapping[str, Any]) -> pd.DatetimeIndex:
    """The times a CDS request asks for: the product of its years, months, days and hours."""
    return pd.DatetimeIndex(
        sorted(
            pd.Timestamp(f"{y}-{m}-{d}T{h}")
            for y in request["year"]
            for m in request["month"]
            for d in request["day"]
            for h in request["time"]
        )
    )


def check_cds_file(path: str | Path, dataset: str, request: Mapping[str, Any], label: str | None = None) -> None:
    """Raise unless a downloaded CDS file holds what ``request`` asked for.

    The file is opened by its content, as the readers open it: a NetCDF file, or a ZIP
    archive of one NetCDF file per stream (extracted into a temporary folder beside it,
    removed afterwards). Every requested variable must be there at every requested time
    and pressure level, and the last requested time step of each is read, which fails on
    a truncated file.

    Args:
        path: The file to check.
        dataset, request: The CDS dataset and request (see :func:`cds_requests`).
        label: What to call the file in messages (default ``path``).

    Raises:
        ValueError: The file is unreadable (an HTML error page, an empty, truncated or
            damaged file: the message quotes its first bytes or the reader's error) or
            lacks a requested variable, time or level; the message names ``label``.
        FileAccessError: (an ``OSError``) a NetCDF-4 file that looks whole but cannot be
            opened now (held open for writing by another process, a file system without
            file locking); the message names the remedy. The file is not at fault.
    """
    label = label or str(path)
    rename = _CDS_STORE_NAMES.get(dataset, {})
    names = [rename.get(v, v) for v in request["variable"]]
    times = _request_times(request)
    levels = [int(v) for v in request.get("pressure_level", [])]
    parts: list[tuple[str, xr.Dataset]] = []
    with tempfile.TemporaryDirectory(prefix=".check-", dir=Path(path).parent) as cache:
        try:
            parts = cds_parts(str(path), cache_dir=cache)
            store = Store(parts, source="cds", path=str(path))
            for name in names:
                if not store.has_variable(name):
                    raise ValueError(
                        f"variable {name!r} was requested but is not in the file (it has {store.variables})"
                    )
                if store.is_static(name):
                    np.asarray(store.static_field(name).values)
                    continue
                absent = times.difference(store.times(name))
                if len(absent):
                    raise ValueError(
                        f"variable {name!r} lacks {len(absent)} of the {len(times)} requested times, "
                        f"first {absent[0]:%Y-%m-%d %H:%M}"
                    )
                lacking = [lv for lv in levels if lv not in store.levels(name)]
                if lacking:
                    raise ValueError(f"variable {name!r} lacks the requested level(s) {lacking} hPa")
                store.read(name, times[-1:], levels=levels or None)
        except FileAccessError:
            raise  # a whole file that cannot be opened now: not a content failure
        except (ValueError, KeyError, OSError, RuntimeError) as err:
            why = err.args[0] if isinstance(err, KeyError) and err.args else err
            raise ValueError(f"CDS download {label}: {why}") from err
        finally:
            for _, ds in parts:
                ds.close()


def retrieve_cds(requests: Sequence[Mapping[str, Any]], client=None) -> list[str]:
    """Run CDS requests through ``cdsapi`` (needs a key in ``~/.cdsapirc``), checking every file.

    Each file is fetched to ``<target>.part`` and renamed to its target only once
    :func:`check_cds_file` has opened it and found every requested variable at every
    requested time and level, so an interrupted or unusable download never stands under
    the final name. The CDS may deliver a ZIP archive (one NetCDF per stream) whatever the
    target is called; it is kept as delivered and read by its content. A file already at
    its target is checked the same way: kept if complete (a rerun resumes), fetched again
    if its content fails the check (with a warning saying why). Only content failures
    (a wrong format, a missing variable, time or level, a truncated file) count: a file
    that looks whole but cannot be opened now (another process holds it open for
    writing, a file system without HDF5 file locking) is never deleted; the run stops
    with :class:`~aurora_xai.data.formats.FileAccessError` naming the remedy, rather
    than waiting (a writer may hold it for hours, and where locking is unsupported every
    open fails alike).

    Args:
        requests: Dicts ``{dataset, request, target}`` (see :func:`cds_requests`).
        client: An object with cdsapi's ``retrieve(dataset, request, target)``, which
            writes the file at ``target`` (default: ``cdsapi.Client()``, made when the
            first file is fetched).

    Returns:
        The target paths, in request order.

    Raises:
        ValueError: A fetched file that is not what was requested (an HTML or JSON error
            page, an empty or truncated file, a missing variable, time or level), naming
            the target and what it holds; the file stays at ``<target>.part`` to inspect,
            and a rerun fetches it again.
        FileAccessError: A file (already at its target, or just fetched) looks whole but
            cannot be opened now; it is kept where it is, and the message names the remedy.
    """
    out = []
    for r in requests:
        target = Path(r["target"])
        out.append(str(target))
        if target.exists():
            try:
                check_cds_file(target, r["dataset"], r["request"])
            except ValueError as err:
                log.warning("fetching %s again: the file there is not a complete download (%s)", target, err)
                target.unlink()
            else:
                log.info("have %s", target)
                continue
        if client is None:
            try:
                import cdsapi
            except ImportError as err:  # pragma: no cover - depends on the environment
                raise ImportError("fetching from the Copernicus CDS needs cdsapi (pip install cdsapi)") from err
            client = cdsapi.Client()
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        part.unlink(missing_ok=True)
        log.info("requesting %s -> %s", r["dataset"], target)
        client.retrieve(r["dataset"], dict(r["request"]), str(part))
        if not part.is_file():
            raise ValueError(f"CDS download {target}: the client returned without writing {part}")
        try:
            check_cds_file(part, r["dataset"], r["request"], label=str(target))
        except ValueError as err:
            raise ValueError(f"{err} (the download is kept as {part}; a rerun fetches it again)") from err
        part.replace(target)
        log.info("fetched and checked %s", target)
    return out
