"""Writing outputs: every file is written atomically and reproducibly.

Each writer puts its output under a temporary name next to the target and renames it
onto the target only when the write succeeded (:func:`atomic_path`), so a failed or
interrupted job never leaves a truncated file that looks finished. Formats are fixed
so that a rerun with the same inputs writes identical bytes:

* :func:`write_csv`: CSV (or TSV) with a fixed float format and ``\\n`` line ends;
* :func:`write_netcdf`: NetCDF-4 through xarray;
* :func:`save_figure`: PNG whose text chunks carry the provenance and no time stamp;
* :func:`write_json`: indented JSON with sorted keys.

Torch-free; matplotlib is imported only by :func:`save_figure`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

__all__ = ["atomic_path", "save_figure", "write_csv", "write_json", "write_netcdf"]


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    The parent folder is created. An exception inside the block removes the temporary
    file and leaves any existing ``path`` untouched, so a failed write never leaves a
    truncated output.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_csv(df: pd.DataFrame, path: str | Path, float_format: str = "%.6g", **kw: Any) -> None:
    """Write a table atomically without its index, with a fixed float format.

    Args:
        df: The table.
        path: The file.
        float_format: ``printf`` format of floats (identical bytes on reruns).
        kw: Further ``DataFrame.to_csv`` arguments (e.g. ``sep="\\t"`` for TSV).
    """
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format=float_format, lineterminator="\n", **kw)


def write_netcdf(ds: xr.Dataset, path: str | Path) -> None:
    """Write a dataset atomically as NetCDF-4."""
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4")


def write_json(obj: Any, path: str | Path, default: Callable[[Any], Any] | None = None) -> None:
    """Write ``obj`` atomically as JSON: indented by 2, keys sorted, a final newline.

    Args:
        obj: Anything ``json.dumps`` takes.
        path: The file.
        default: Conversion of values JSON does not know (e.g. ``float`` for numpy
            scalars, ``str`` for times); ``None``: such a value raises ``TypeError``.
    """
    text = json.dumps(obj, indent=2, sort_keys=True, default=default) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_figure(fig: Any, path: str | Path, provenance: Mapping[str, str] | None = None, dpi: int = 150) -> None:
    """Save a matplotlib figure atomically as PNG and close it.

    The PNG's text chunks carry ``provenance`` (config hash, package versions, git commit,
    checkpoint; :func:`aurora_xai.provenance.provenance`), each under ``aurora-xai:<key>``,
    and no time stamp or software version, so reruns give identical bytes.
    """
    import matplotlib.pyplot as plt

    metadata: dict[str, str | None] = {"Software": None}
    metadata.update({f"aurora-xai:{k}": str(v) for k, v in (provenance or {}).items()})
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight", metadata=metadata)
    plt.close(fig)
