"""What a data file holds, told from its content (its first bytes), never from its name.

ERA5 inputs arrive as NetCDF-4 (an HDF5 file), NetCDF-3 (classic or 64-bit offset), GRIB,
zarr folders, and ZIP archives of any of these: the current Copernicus CDS delivers a
single-level request that mixes streams (instantaneous and accumulated variables) as a ZIP
holding one NetCDF file per stream, and clients often save it under a ``.nc`` name. A
failed download is often an HTML or JSON error page saved under the data's name.

:func:`sniff` names the format of a path from its first bytes; :func:`describe_head`
says in words what an unrecognised file starts with; :func:`zip_members` extracts the
members of an archive once into a cache folder beside it (refreshed when the archive
changes) and returns their paths; :func:`check_netcdf3_size` catches a truncated classic
NetCDF file, which the netCDF library reads as zeros past its end.

A NetCDF-4 file that the library cannot open is not necessarily damaged: HDF5 refuses to
open a file another process holds open for writing (its file lock), and on file systems
without locking every open may fail the same way. :func:`hdf5_superblock` reads the
superblock (signature, version, the flag a writer sets, the end-of-file address) so that
:func:`explain_hdf5_failure` can tell a whole file that cannot be opened now
(:class:`FileAccessError`) from a truncated or damaged one (:class:`UnrecognisedFileError`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

__all__ = [
    "FORMATS",
    "UnrecognisedFileError",
    "FileAccessError",
    "hdf5_superblock",
    "explain_hdf5_failure",
    "sniff",
    "read_head",
    "describe_head",
    "zip_holds_zarr",
    "zip_members",
    "check_netcdf3_size",
]

log = logging.getLogger(__name__)

#: The formats :func:`sniff` recognises.
FORMATS: tuple[str, ...] = ("zarr", "netcdf4", "netcdf3", "grib", "zip")

_HDF5 = b"\x89HDF\r\n\x1a\n"
_HDF5_OFFSETS = (0, 512, 1024, 2048)  # the superblock follows an optional user block
_NETCDF3 = (b"CDF\x01", b"CDF\x02", b"CDF\x05")
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive
_GRIB = b"GRIB"
_ZARR_MARKERS = (".zgroup", ".zmetadata", "zarr.json", ".zarray")
_MANIFEST = ".source.json"


class UnrecognisedFileError(ValueError):
    """A file that is none of the formats read here; the message names it and its first bytes."""


class FileAccessError(OSError):
    """A file whose content looks whole but that cannot be opened now.

    Raised for a NetCDF-4 (HDF5) file with a valid signature and superblock and at least
    the size its superblock records, which the library still refuses to open: another
    process holds it open for writing (HDF5's file lock), the file system does not
    support locking, or the file is not readable by this user. The file must not be
    deleted or fetched again; the message names the remedy.
    """


def _hdf5_offsets(size: int):
    """Where an HDF5 superblock may start: 0, 512, 1024, 2048, ... (after a user block)."""
    yield 0
    o = 512
    while o + len(_HDF5) <= size:
        yield o
        o *= 2


def hdf5_superblock(path: str | os.PathLike) -> dict[str, int] | None:
    """The facts of an HDF5 file's superblock, or ``None`` when it has no HDF5 signature.

    Returns:
        ``{offset, version, offset_size, flags, eof, size}``: where the signature is
        (bytes), the superblock version (0-3), the size of file addresses (bytes), the
        file consistency flags (versions 2 and 3: bit 0 is set while a writer has the
        file open; ``-1`` for versions 0 and 1, which do not record it), the end-of-file
        address the superblock records made absolute (bytes; ``-1`` when unreadable) and
        the file's actual size (bytes).
    """
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        for off in _hdf5_offsets(size):
            fh.seek(off)
            block = fh.read(96)
            if block[: len(_HDF5)] != _HDF5:
                continue
            version = block[8] if len(block) > 8 else -1
            out = {"offset": off, "version": version, "offset_size": -1, "flags": -1, "eof": -1, "size": size}
            if version in (0, 1) and len(block) > 13:
                so = block[13]
                start = (24 if version == 0 else 28) + 2 * so  # base, free-space, then end-of-file
                base_at = 24 if version == 0 else 28
            elif version in (2, 3) and len(block) > 11:
                so = block[9]
                out["flags"] = block[11]
                base_at, start = 12, 12 + 2 * so  # base, extension, then end-of-file
            else:
                return out
            out["offset_size"] = so
            if so in (2, 4, 8) and len(block) >= start + so:
                base = int.from_bytes(block[base_at : base_at + so], "little")
                eof = int.from_bytes(block[start : start + so], "little")
                out["eof"] = (base if base else off) + eof
            return out
    return None


def explain_hdf5_failure(path: str | os.PathLike, err: BaseException) -> Exception:
    """The error to raise when the netCDF library fails to open an HDF5 (NetCDF-4) file.

    A file without an HDF5 signature, or shorter than the end-of-file address its
    superblock records, is damaged or truncated: an :class:`UnrecognisedFileError` (fetch
    it again). A file with a valid signature and superblock and at least that size is
    whole: a :class:`FileAccessError` naming the likely cause (the writer flag set: another
    process has it open for writing; not readable; otherwise a lock held elsewhere or a
    file system without locking) and the remedy (wait for the writer, or set
    ``HDF5_USE_FILE_LOCKING=FALSE`` where the file system has no locking).

    Args:
        path: The file.
        err: What the library raised (quoted in the message).
    """
    damaged = f"{path}: a NetCDF-4 file that cannot be opened ({err}): truncated or damaged? fetch it again"
    try:
        sb = hdf5_superblock(path)
    except OSError as exc:
        return FileAccessError(f"{path}: a NetCDF-4 file that cannot be read ({exc}); nothing was deleted")
    if sb is None or sb["eof"] < 0:
        return UnrecognisedFileError(damaged + " (no readable HDF5 superblock)")
    if sb["size"] < sb["eof"]:
        return UnrecognisedFileError(
            f"{damaged} (its HDF5 superblock records {sb['eof']} bytes, the file has {sb['size']}: truncated)"
        )
    whole = (
        f"{path}: a NetCDF-4 file that looks whole (HDF5 signature at byte {sb['offset']}, "
        f"{sb['size']} bytes for the {sb['eof']} its superblock records) cannot be opened ({err})"
    )
    if not os.access(path, os.R_OK):
        return FileAccessError(f"{whole}: it is not readable by this user (check its permissions)")
    locking = os.environ.get("HDF5_USE_FILE_LOCKING", "")
    remedy = (
        "wait until the other process closes it (a download or a program still writing it) and run again; "
        "on a file system without file locking (some NFS or Lustre mounts) set HDF5_USE_FILE_LOCKING=FALSE"
        + (f" (it is {locking!r} now)" if locking else "")
    )
    if sb["flags"] > 0 and sb["flags"] & 1:
        why = "its superblock says a process has it open for writing (HDF5 file lock)"
    else:
        why = "another process may hold it open (HDF5 file lock) or the file system refuses the lock"
    return FileAccessError(f"{whole}: {why}; {remedy}. The file was not deleted.")


def read_head(path: str | os.PathLike, n: int = 2056) -> bytes:
    """The first ``n`` bytes of a file."""
    with open(path, "rb") as fh:
        return fh.read(n)


def sniff(path: str | os.PathLike) -> str:
    """The format of a local file or folder, one of :data:`FORMATS`.

    Raises:
        FileNotFoundError: Nothing at ``path``.
        UnrecognisedFileError: A folder that is not a zarr store, an empty file, or a file
            whose first bytes match none of the formats (the message quotes them, e.g. the
            start of an HTML error page).
    """
    p = Path(path)
    if p.is_dir():
        if any((p / marker).exists() for marker in _ZARR_MARKERS):
            return "zarr"
        raise UnrecognisedFileError(
            f"{p}: a folder that is not a zarr store (none of {', '.join(_ZARR_MARKERS)} in it)"
        )
    if not p.exists():
        raise FileNotFoundError(f"no file or store at {p}")
    head = read_head(p)
    if not head:
        raise UnrecognisedFileError(f"{p}: the file is empty (0 bytes): an interrupted download?")
    if any(head[o : o + len(_HDF5)] == _HDF5 for o in _HDF5_OFFSETS):
        return "netcdf4"
    if head[:4] not in (*_NETCDF3, *_ZIP, _GRIB) and len(head) > 2048:
        try:  # a user block of 4096 bytes or more before the superblock
            if hdf5_superblock(p) is not None:
                return "netcdf4"
        except OSError:
            pass
    if head[:4] in _NETCDF3:
        return "netcdf3"
    if head[:4] in _ZIP:
        return "zip"
    if head[:4] == _GRIB:
        return "grib"
    raise UnrecognisedFileError(f"{p}: not a NetCDF, GRIB, ZIP or zarr store: {describe_head(head)}")


def describe_head(head: bytes) -> str:
    """A short description of a file's first bytes, for error messages.

    Text is quoted (up to 80 characters) with a guess at what it is (an HTML page, a JSON
    message); binary content is shown as hex.
    """
    if not head:
        return "it is empty"
    if head[:2] == b"\x1f\x8b":
        return "it is gzip-compressed (decompress it first)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and sum(ch.isprintable() or ch in "\r\n\t" for ch in text) >= 0.95 * len(text):
        snippet = " ".join(text.split())[:80]
        low = text.lstrip().lower()
        if low.startswith(("<!doctype html", "<html")) or "<html" in low[:500]:
            kind = " (an HTML page: often a server's error or login page saved in place of the data)"
        elif low.startswith(("{", "[")):
            kind = " (JSON: often an error message from the server)"
        elif low.startswith("<?xml"):
            kind = " (an XML document, often an error message from a server)"
        else:
            kind = " (text)"
        return f"it starts with {snippet!r}{kind}"
    return f"its first bytes are {head[:16].hex(' ')}"


def zip_holds_zarr(path: str | os.PathLike) -> bool:
    """Whether a ZIP archive holds a zarr store at its root (a zipped ``.zarr`` folder)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, EOFError) as err:
        raise UnrecognisedFileError(
            f"{path}: a damaged or truncated ZIP archive ({err}): an interrupted download?"
        ) from err
    return any(marker in names for marker in _ZARR_MARKERS[:3])


def _stamp(path: Path) -> dict[str, int | str]:
    st = path.stat()
    return {"archive": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _cached(folder: Path, stamp: dict) -> list[tuple[str, Path]] | None:
    """The members recorded in ``folder`` when it was extracted from this very archive."""
    try:
        manifest = json.loads((folder / _MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("stamp") != stamp:
        return None
    members = [(str(m), folder / m) for m in manifest.get("members", [])]
    return members if all(p.is_file() for _, p in members) else None


def _default_cache(archive: Path) -> Path:
    return archive.parent / f".{archive.name}.members"


def zip_members(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """Extract the files of a ZIP archive once; ``(member name, extracted path)`` in archive order.

    The members go to a folder ``<archive name>.members`` in ``cache_dir`` (default: a hidden folder ``.<archive name>.members``
    beside the archive, or a folder in the system's temporary directory where that cannot
    be written). The folder records the archive's size and modification time and is
    extracted again when the archive changes. Extraction writes a temporary folder and
    renames it, so a reader never sees half an extraction; member names cannot escape the
    folder (``zipfile`` strips ``..`` and leading slashes).

    Raises:
        UnrecognisedFileError: The archive is damaged or truncated (the message names it),
            or holds no files.
    """
    archive = Path(path)
    stamp = _stamp(archive)
    if cache_dir is not None:
        folders = [Path(cache_dir) / f"{archive.name}.members"]
    else:
        key = hashlib.sha1(str(archive.resolve()).encode()).hexdigest()[:12]
        folders = [
            _default_cache(archive),
            Path(tempfile.gettempdir()) / "aurora_xai-zip-members" / f"{archive.name}-{key}",
        ]
    for folder in folders:
        have = _cached(folder, stamp)
        if have is not None:
            return have
    last_err: OSError | None = None
    for folder in folders:
        try:
            return _extract(archive, folder, stamp)
        except PermissionError as err:  # a read-only data folder: try the next place
            last_err = err
            log.info("cannot extract %s into %s (%s)", archive, folder, err)
    raise OSError(f"{archive}: no writable folder to extract the archive into ({last_err})")


def _extract(archive: Path, folder: Path, stamp: dict) -> list[tuple[str, Path]]:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                infos = [i for i in zf.infolist() if not i.is_dir()]
                if not infos:
                    raise UnrecognisedFileError(f"{archive}: a ZIP archive with no files in it")
                names = [Path(zf.extract(i, tmp)).relative_to(tmp).as_posix() for i in infos]
        except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as err:
            raise UnrecognisedFileError(
                f"{archive}: a damaged or truncated ZIP archive ({err}): an interrupted download?"
            ) from err
        (tmp / _MANIFEST).write_text(json.dumps({"stamp": stamp, "members": names}))
        log.info("extracted %d member(s) of %s into %s", len(names), archive, folder)
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        try:
            tmp.rename(folder)
        except OSError:  # another process finished the same extraction first
            have = _cached(folder, stamp)
            if have is None:
                raise
            return have
        return [(n, folder / n) for n in names]
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def check_netcdf3_size(path: str | os.PathLike) -> None:
    """Raise :class:`UnrecognisedFileError` if a classic NetCDF file is shorter than its header says.

    The netCDF library reads the missing end of a truncated classic file as zeros without
    an error; scipy's reader maps every variable at open and fails on a short file. Files
    in the CDF-5 format, which scipy does not read, are not checked.
    """
    from scipy.io import netcdf_file

    if read_head(path, 4) == b"CDF\x05":
        return
    try:
        nc = netcdf_file(path, mode="r", mmap=True)
    except (ValueError, TypeError, OSError, IndexError) as err:
        raise UnrecognisedFileError(
            f"{path}: the NetCDF-3 file is damaged or shorter than its header says ({err}): "
            "a truncated download? fetch it again"
        ) from err
    nc.variables.clear()  # release the maps before closing
    nc.close()
