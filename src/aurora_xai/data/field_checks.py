"""Checks and message pieces shared by the readers of ERA5 fields.

:func:`check_finite` names the first non-finite value of a field by variable, level, time
and grid cell; :func:`files_label` and :func:`declared_of` name the files and the declared
units in messages.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .units import UnitConversion

__all__ = ["cell_label", "check_finite", "declared_of", "files_label"]


def declared_of(conv: UnitConversion | None) -> str | None:
    """The declared units of a conversion (None: none declared), for plausibility messages."""
    return None if conv is None else conv.declared


def files_label(files: Sequence[str], most: int = 3) -> str:
    """``a, b, c`` or ``a, b, c and 7 more files`` for messages."""
    shown = ", ".join(files[:most])
    return shown if len(files) <= most else f"{shown} and {len(files) - most} more files"


def cell_label(idx, lat: np.ndarray | None, lon: np.ndarray | None) -> str:
    """``grid index (3, 7), latitude 45, longitude 270`` for messages (plain numbers)."""
    r, c = (int(v) for v in idx[-2:])
    out = f"grid index ({r}, {c})"
    if lat is not None and lon is not None and r < len(lat) and c < len(lon):
        out += f", latitude {float(lat[r]):g}, longitude {float(lon[c]):g}"
    return out


def check_finite(arr: np.ndarray, name: str, levels, time, history=None, times=None, lat=None, lon=None) -> None:
    """Raise ``ValueError`` naming variable, level, time and grid cell of the first non-finite value.

    ``lat``/``lon`` name the cell's coordinates when the array is on the whole grid (not
    a block of rows and columns).
    """
    if np.all(np.isfinite(arr)):
        return
    idx = np.argwhere(~np.isfinite(arr))[0]
    if arr.shape[-2:] != (len(lat) if lat is not None else -1, len(lon) if lon is not None else -1):
        lat = lon = None
    if time == "static":
        raise ValueError(f"NaN or inf in static variable {name!r} at {cell_label(idx, lat, lon)}")
    if times is not None:
        step_time = pd.Timestamp(list(times)[int(idx[0])])
    else:
        t = pd.Timestamp(time)
        step_time = t - history if idx[0] == 0 else t
    where = f"variable {name!r}"
    if levels is not None:
        where += f", level {int(levels[int(idx[1])])} hPa"
    field = arr[tuple(idx[:-2])]
    whole = ""
    if np.isnan(field).all():
        whole = (
            "; the whole field is NaN there but other fields at that time are not, so it is not a missing "
            "time step (those are skipped with data.on_missing: skip only when every needed field is NaN)"
        )
    raise ValueError(f"NaN or inf in {where}, time {step_time:%Y-%m-%d %H:%M} ({cell_label(idx, lat, lon)}){whole}")
