"""Writing tables, NetCDF files and the headline table, atomically and reproducibly."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from .provenance import atomic_path

__all__ = ["HEADLINE_COLUMNS", "headline_rows", "write_csv", "write_netcdf", "read_headline_parts", "save_figure"]

HEADLINE_COLUMNS = ("metric", "value", "ci_low", "ci_high", "n")


def headline_rows(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A headline table from rows with ``metric``, ``value`` and optional interval and ``n``."""
    out = []
    for row in rows:
        unknown = set(row) - set(HEADLINE_COLUMNS)
        if unknown:
            raise ValueError(f"headline row has unknown columns {sorted(unknown)}")
        if "metric" not in row or "value" not in row:
            raise ValueError(f"headline row needs metric and value: {dict(row)}")
        value = float(row["value"])
        if not math.isfinite(value):
            raise ValueError(f"headline metric {row['metric']!r} is not finite: {value}")
        out.append({c: row.get(c) for c in HEADLINE_COLUMNS})
    return pd.DataFrame(out, columns=list(HEADLINE_COLUMNS))


def write_csv(df: pd.DataFrame, path: str | Path, float_format: str = "%.6g", **kw) -> None:
    """Write a CSV atomically with a fixed float format (identical bytes on reruns)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format=float_format, lineterminator="\n", **kw)


def write_netcdf(ds: xr.Dataset, path: str | Path) -> None:
    """Write NetCDF4 atomically."""
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4")


def read_headline_parts(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Concatenate per-analysis headline parts; a metric may appear only once."""
    frames = [pd.read_csv(p, dtype={"metric": str}) for p in paths]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(HEADLINE_COLUMNS))
    dup = df["metric"][df["metric"].duplicated()].tolist()
    if dup:
        raise ValueError(f"headline metrics reported twice: {dup}")
    return df[list(HEADLINE_COLUMNS)]


def save_figure(fig, path: str | Path, provenance: Mapping[str, str] | None = None, dpi: int = 150) -> None:
    """Save a matplotlib figure atomically as PNG.

    The PNG's text chunks carry ``provenance`` (config hash, package versions, git commit,
    checkpoint) and no time stamp or software version, so reruns give identical bytes.
    """
    import matplotlib.pyplot as plt

    metadata: dict[str, str | None] = {"Software": None}
    metadata.update({f"aurora-xai:{k}": str(v) for k, v in (provenance or {}).items()})
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight", metadata=metadata)
    plt.close(fig)
