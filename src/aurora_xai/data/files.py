"""Opening ERA5 files and stores as parts, and listing the files of a CDS download.

What a file holds is told from its content, never from its name
(:mod:`aurora_xai.data.formats`): NetCDF-4, NetCDF-3, zarr folders and ZIP archives are
read whatever they are called. A ZIP archive (the current CDS delivers requests that mix
instantaneous and accumulated streams as a ZIP of one NetCDF per stream, often saved as
``.nc``) is extracted once into a hidden folder beside it and each member becomes one part
of the store; a zipped zarr store is read in place. GRIB files are refused with how to
convert them; anything else (an HTML error page saved as ``.nc``, an empty or truncated
download) is refused with an error naming the file and quoting its first bytes.

A zarr store is one part, each NetCDF file or archive member is one.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import xarray as xr

from .formats import (
    UnrecognisedFileError,
    check_netcdf3_size,
    explain_hdf5_failure,
    sniff,
    zip_holds_zarr,
    zip_members,
)

log = logging.getLogger(__name__)

__all__ = ["PartSource", "cds_files", "open_dataset", "open_part_sources", "open_parts", "zarr_consolidated"]

#: File names a folder listing never takes: unfinished downloads.
_UNFINISHED_SUFFIXES = (".part", ".tmp", ".partial", ".download", ".crdownload")
#: File names a folder listing takes without looking inside (a bad one is an error).
_DATA_SUFFIXES = (".nc", ".nc4", ".netcdf", ".cdf", ".zip", ".grib", ".grb", ".grib1", ".grib2", ".grb2")


def _open_netcdf(path: str, kind: str) -> xr.Dataset:
    if kind == "netcdf3":
        check_netcdf3_size(path)
    try:
        return xr.open_dataset(path, engine="netcdf4", chunks=None)
    except (OSError, ValueError, RuntimeError) as err:
        if kind == "netcdf4":  # a whole file held open elsewhere is not a damaged one
            raise explain_hdf5_failure(path, err) from err
        raise UnrecognisedFileError(
            f"{path}: a NetCDF-3 file that cannot be opened ({err}): truncated or damaged? fetch it again"
        ) from err


class PartSource:
    """Where one part came from: the zarr group behind it (chunk listing), and how to reopen it undecoded.

    Attributes:
        label: The part's label (a file, a store, ``archive::member``).
        group: The ``zarr.Group`` of a zarr part, else None.
        reopen: Opens the part again with ``decode_cf=False`` (raw values and attributes).
        remote: Whether the zarr store is remote (listing costs a round trip).
    """

    def __init__(self, label: str, group=None, reopen=None, remote: bool = False) -> None:
        self.label = label
        self.group = group
        self.reopen = reopen
        self.remote = remote


def zarr_consolidated(group) -> bool:
    """Whether an open ``zarr.Group`` has consolidated metadata (v2 ``.zmetadata``, v3 in ``zarr.json``)."""
    return getattr(group.metadata, "consolidated_metadata", None) is not None


def _open_zarr(target, label: str, storage_options: Mapping | None = None) -> tuple[xr.Dataset, PartSource]:
    """Open a zarr store lazily, as consolidated exactly when it has consolidated metadata.

    (Asking xarray to guess prints a multi-line warning into every log for an
    unconsolidated store.) ``target``: a path, URL or ``zarr`` store.
    """
    import zarr

    opts = dict(storage_options) if storage_options else None
    group = zarr.open_group(target, mode="r", storage_options=opts) if opts else zarr.open_group(target, mode="r")
    consolidated = zarr_consolidated(group)
    kw = {"chunks": None, "consolidated": consolidated}
    if opts:
        kw["storage_options"] = opts
    ds = xr.open_zarr(target, **kw)
    remote = not isinstance(group.store, (zarr.storage.LocalStore, zarr.storage.ZipStore, zarr.storage.MemoryStore))
    return ds, PartSource(label, group, lambda: xr.open_zarr(target, decode_cf=False, **kw), remote)


def open_parts(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> list[tuple[str, xr.Dataset]]:
    """Open one path lazily (without dask) as ``(label, dataset)`` parts, by its content.

    A zarr folder, a NetCDF file (any name) or a zipped zarr store is one part labelled
    with the path; each member of a ZIP archive of NetCDF files is one part labelled
    ``<archive>::<member>`` (members are extracted once, see
    :func:`aurora_xai.data.formats.zip_members`; ``cache_dir`` overrides where). ``gs://``
    URLs are zarr stores opened anonymously through gcsfs (imported only then). A zarr
    store is opened as consolidated exactly when it has consolidated metadata, so no
    warning is printed for one that has none.

    Raises:
        FileNotFoundError: Nothing at ``path``.
        UnrecognisedFileError: (a ``ValueError``) a GRIB file, or content that is none of
            these formats, naming the file and quoting its first bytes; a truncated file.
        FileAccessError: (an ``OSError``) a NetCDF-4 file that looks whole (a valid HDF5
            superblock, at least the size it records) but cannot be opened: held open for
            writing by another process (HDF5's file lock) or a file system without locking.
    """
    return [(label, ds) for label, ds, _ in open_part_sources(path, cache_dir)]


def open_part_sources(
    path: str | os.PathLike, cache_dir: str | os.PathLike | None = None
) -> list[tuple[str, xr.Dataset, PartSource]]:
    """:func:`open_parts`, with each part's :class:`PartSource`."""
    p = str(path)
    if p.startswith("gs://"):
        try:
            import gcsfs  # only needed for cloud stores
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(f"data.path {p}: reading gs:// stores needs gcsfs (pip install gcsfs)") from err
        del gcsfs
        return [(p, *_open_zarr(p, p, storage_options={"token": "anon"}))]
    if not Path(p).exists():
        raise FileNotFoundError(f"data.path: no store or file at {p}")
    kind = sniff(p)
    if kind == "zarr":
        return [(p, *_open_zarr(p, p))]
    if kind in ("netcdf4", "netcdf3"):
        reopen = lambda: xr.open_dataset(p, engine="netcdf4", chunks=None, decode_cf=False)  # noqa: E731
        return [(p, _open_netcdf(p, kind), PartSource(p, reopen=reopen))]
    if kind == "grib":
        raise UnrecognisedFileError(
            f"{p}: a GRIB file; these readers take NetCDF: convert it (cfgrib's `cfgrib to_netcdf` or ecCodes' "
            "`grib_to_netcdf`; both outputs are read) or request 'data_format': 'netcdf' from the CDS"
        )
    # a ZIP archive
    if zip_holds_zarr(p):
        import zarr

        return [(p, *_open_zarr(zarr.storage.ZipStore(p, mode="r"), p))]
    parts: list[tuple[str, xr.Dataset, PartSource]] = []
    for name, member in zip_members(p, cache_dir):
        try:
            inner = open_part_sources(member, cache_dir)
        except UnrecognisedFileError as err:
            raise UnrecognisedFileError(f"{p}: member {name!r} of the ZIP archive: {err}") from err
        for label, ds, src in inner:
            label = f"{p}::{name}{label[len(str(member)) :]}"
            src.label = label
            parts.append((label, ds, src))
    return parts


def open_dataset(path: str | os.PathLike) -> xr.Dataset:
    """Open one zarr store, NetCDF file or ZIP archive lazily as one dataset, without dask.

    The format is told from the content, not the name (see :func:`open_parts`). The
    members of an archive are merged; they must share their coordinates exactly.

    Raises:
        FileNotFoundError: Nothing at ``path``.
        ValueError: Unrecognised or unreadable content, or archive members that do not
            merge (each naming the file).
    """
    parts = open_parts(path)
    if len(parts) == 1:
        return parts[0][1]
    try:
        return xr.merge([ds for _, ds in parts], join="exact", compat="no_conflicts", combine_attrs="drop_conflicts")
    except (ValueError, xr.MergeError) as err:
        raise ValueError(
            f"{path}: the {len(parts)} members of the archive ({', '.join(lb.split('::')[-1] for lb, _ in parts)}) "
            f"do not merge into one dataset ({err}); read it with data.source: cds, which takes each member as a part"
        ) from err


def _listed(folder: Path) -> list[str]:
    """The data files of a folder: by name, and by content for names without a data suffix."""
    found = []
    for f in sorted(folder.iterdir()):
        name = f.name
        if name.startswith(".") or not f.is_file():
            continue
        if name.endswith(_UNFINISHED_SUFFIXES):
            log.warning("skipping %s: an unfinished download", f)
            continue
        if name.lower().endswith(_DATA_SUFFIXES):
            found.append(str(f))
            continue
        try:
            kind = sniff(f)
        except (UnrecognisedFileError, OSError):
            log.debug("skipping %s: not a data file", f)
            continue
        if kind != "zarr":
            found.append(str(f))
    return found


def cds_files(path: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """The data files named by ``path``: a file, a folder, a glob pattern or a list of those.

    A folder gives its files named ``*.nc``, ``*.nc4``, ``*.netcdf``, ``*.cdf``, ``*.zip``
    and ``*.grib``/``*.grb*``, and any other file whose content is NetCDF, GRIB or ZIP;
    hidden files and unfinished downloads (``*.part``, ``*.tmp``, ...) are left out. A
    zarr folder is taken as one store. Content is checked when the files are opened.

    Raises:
        FileNotFoundError: An item names nothing, or a folder or pattern holds no data file.
    """
    if isinstance(path, (str, os.PathLike)):
        items = [str(path)]
    else:
        items = [str(p) for p in path]
    out: list[str] = []
    for item in items:
        if any(ch in item for ch in "*?["):
            found = sorted(f for f in glob.glob(item) if not f.endswith(_UNFINISHED_SUFFIXES))
        elif Path(item).is_dir():
            try:
                found = [item] if sniff(item) == "zarr" else []
            except UnrecognisedFileError:
                found = _listed(Path(item))
        elif Path(item).exists():
            found = [item]
        else:
            raise FileNotFoundError(f"data.path: no CDS NetCDF file or folder at {item}")
        if not found:
            raise FileNotFoundError(f"data.path: no NetCDF files (nor ZIP or GRIB) in {item}")
        out.extend(found)
    return out
