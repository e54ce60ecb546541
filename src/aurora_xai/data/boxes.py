"""Reading surface variables on a block of grid rows and columns at many times.

The box reads of :class:`~aurora_xai.data.era5.ERA5Source` (:class:`BoxReads`, which it
inherits): one vectorised read per variable, time steps stored mirrored read from the
mirrored rows, missing steps and values checked as for whole samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..dates import utc_index

__all__ = ["BoxReads"]


class BoxReads:
    """The box reads of an ERA5 source.

    They read through what :class:`~aurora_xai.data.era5.ERA5Source` holds: its store
    (``store``, ``names``, ``lat``), its orientation check (``_check_flip``,
    ``_flipped_steps``) and its checks of freshly read fields (``_missing``,
    ``_check_fields``, ``empty_steps``).
    """

    def read_box(self, short: str, times: Sequence[pd.Timestamp], rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Read a surface variable on a block of grid rows and columns at many times.

        One vectorised read per variable: ``(time, len(rows), len(cols))`` float32, canonical
        orientation (time steps stored mirrored are read from the mirrored rows; with the
        orientation check on, that costs one extra 2 m temperature field per time), in
        Aurora's units. A step whose block is entirely NaN, or whose chunks were never
        written in a zarr store (they would read as the fill value), raises
        :class:`MissingTimeError`; values outside the plausible bands raise ``ValueError``.

        Args:
            short: Aurora surface name (``10u``, ``10v``, ...).
            times: Times to read; all must be stored (see :meth:`available`).
            rows, cols: Indices into :attr:`lat` and :attr:`lon`.
        """
        return self.read_boxes((short,), times, rows, cols)[0][short]

    def read_boxes(
        self,
        shorts: Sequence[str],
        times: Sequence[pd.Timestamp],
        rows: np.ndarray,
        cols: np.ndarray,
        skip_empty: bool = False,
    ) -> tuple[dict[str, np.ndarray], pd.DatetimeIndex]:
        """Read several surface variables on a block of rows and columns, as :meth:`read_box`.

        Args:
            shorts: Aurora surface names.
            times: Times to read; all must be stored.
            rows, cols: Indices into :attr:`lat` and :attr:`lon`.
            skip_empty: A step at which every one of these blocks is entirely NaN, or at
                which a chunk of one of these variables was never written (missing data), is
                left out and recorded in :attr:`empty_steps`; without it, it raises
                :class:`MissingTimeError`. A NaN anywhere else raises ``ValueError`` naming
                variable, time and grid cell.

        Returns:
            ``({short: (time, len(rows), len(cols)) float32}, kept times)``; the arrays hold
            the kept times only, in the order of ``times``.
        """
        times = utc_index(times)
        names = {short: self.names["surf"][short] for short in shorts}
        for name in names.values():
            missing = times.difference(self.store.times(name))
            if len(missing):
                raise self._missing(missing[0], missing[0])
        rows = np.asarray(rows)
        cols = np.asarray(cols)
        unwritten: dict[pd.Timestamp, str] = {}
        t2m = self.store.read(self.names["surf"]["2t"], times, unwritten=unwritten) if self._check_flip else None
        flips = self._flipped_steps(list(times), t2m)
        out = {}
        for name in names.values():
            arr = np.empty((len(times), len(rows), len(cols)), dtype=np.float32)
            if (~flips).any():
                arr[~flips] = self.store.read(name, times[~flips], rows=rows, cols=cols, unwritten=unwritten)
            if flips.any():
                arr[flips] = self.store.read(
                    name, times[flips], rows=len(self.lat) - 1 - rows, cols=cols, unwritten=unwritten
                )
            out[name] = arr
        kinds = {name: ("surf", short) for short, name in names.items()}
        what = ", ".join(repr(n) for n in names.values()) + " in the rows and columns read"
        empty = self._check_fields(out, kinds, list(times), skip_empty, what, unwritten)
        keep = ~empty
        result = {short: out[name] if keep.all() else out[name][keep] for short, name in names.items()}
        return result, times[keep]
