"""Byte accounting: the bytes one sample needs, and those the process reads for it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pandas as pd

from .variables import ATMOS_VARS, SURF_VARS

if TYPE_CHECKING:
    from .era5 import ERA5Source

__all__ = ["bytes_needed", "measure_read_bytes"]


def _rchar() -> int:
    with open("/proc/self/io") as fh:
        for line in fh:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise OSError("no rchar in /proc/self/io")


def bytes_needed(source: ERA5Source) -> int:
    """Uncompressed bytes of the fields one sample needs."""
    nl, ny, nx = len(source.levels), len(source.lat), len(source.lon)
    return 2 * 4 * ny * nx * (len(SURF_VARS) + len(ATMOS_VARS) * nl)


def measure_read_bytes(source: ERA5Source, time: pd.Timestamp) -> tuple[int, int]:
    """Bytes the process reads for one sample, and the bytes the sample needs.

    Measured as the change of ``rchar`` in ``/proc/self/io`` (Linux) around
    :meth:`ERA5Source.read_fields`: every byte read from files (compressed, as stored,
    page cache included) by any thread of the process. Run nothing else meanwhile. On an
    uncompressed store the ratio ``read / needed`` is the overhead of reading whole
    chunks (variables, levels or times the sample does not use); 1.0 is the floor.

    Returns:
        ``(read, needed)`` in bytes.
    """
    if not os.path.exists("/proc/self/io"):
        raise OSError("measure_read_bytes needs /proc/self/io (Linux)")
    before = _rchar()
    source.read_fields(time)
    after = _rchar()
    return after - before, source.bytes_needed()
