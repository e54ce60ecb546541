"""Byte accounting: the bytes one sample needs, and those the process reads for it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from .variables import ATMOS_VARS, SURF_VARS

__all__ = ["SampleSource", "bytes_needed", "measure_read_bytes"]


class SampleSource(Protocol):
    """What byte accounting needs of a source (an :class:`~aurora_xai.data.era5.ERA5Source`)."""

    levels: Sequence[int]
    lat: np.ndarray
    lon: np.ndarray

    def read_fields(self, time: pd.Timestamp) -> dict[str, np.ndarray]: ...

    def bytes_needed(self) -> int: ...


def _rchar() -> int:
    with open("/proc/self/io") as fh:
        for line in fh:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise OSError("no rchar in /proc/self/io")


def bytes_needed(source: SampleSource) -> int:
    """Uncompressed bytes of the fields one sample needs."""
    nl, ny, nx = len(source.levels), len(source.lat), len(source.lon)
    return 2 * 4 * ny * nx * (len(SURF_VARS) + len(ATMOS_VARS) * nl)


def measure_read_bytes(source: SampleSource, time: pd.Timestamp) -> tuple[int, int]:
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
