"""Reading ERA5 stores into Aurora batches.

One store is opened once per job; static fields are read (and regridded if needed)
once; each sample then reads exactly the variables, levels and the two history times it
needs. The result is an ``aurora.Batch`` in Aurora's conventions: latitude strictly
decreasing, longitude increasing in [0, 360), float32, the configured pressure levels.

The schema of the store is chosen by ``source`` (see :mod:`aurora_xai.data.sources`):
``synthetic`` and ``weatherbench2`` (WeatherBench 2 zarr), ``arco`` (ARCO-ERA5 zarr, valid
span from its attributes) and ``cds`` (Copernicus CDS NetCDF files). All give the same
batch for the same content.

Latitude orientation is normalised twice: from the coordinates (per store, and per file
for multi-file sources), and per time step from the data, for stores known to hold time
steps written north-south mirrored under a correct coordinate (ARCO-ERA5 on some dates).
The data check compares the zonal anomalies of 2 m temperature with those of the surface
geopotential (high ground is cold: the lapse-rate signature) as stored and as mirrored;
see :func:`aurora_xai.data.orientation.latitude_flip_score`. It sees a mirror of the whole time step (all variables
flipped together, as reported); it cannot see a flip of one variable alone, and it needs a
grid symmetric about the equator. Known dates can also be listed (``flipped_times``).

Units are checked once per store (:mod:`aurora_xai.data.units`): declared units are
converted to Aurora's (each conversion logged and listed in
:attr:`ERA5Source.unit_conversions`) or refused; every field, with declared units or
without, is checked for plausible values (after conversion) at every read.

Times: the library keeps times timezone-naive meaning UTC (aware inputs are converted);
the times handed to Aurora (``Metadata.time``) are timezone-aware UTC, so the process time
zone never changes a result.

Missing data stored as NaN: a time step at which every field a read needs is entirely NaN
(as ARCO-ERA5 marks missing data inside its valid span) is a missing time step
(:class:`MissingTimeError`, or skipped where the caller asks, see
:meth:`ERA5Source.batches`); any other NaN is an error naming variable, level, time and
grid cell (index, latitude and longitude).

Missing data never written: in a zarr store whose fill value is not NaN, a time step any
of whose chunks was never written (a region write that did not happen, a copy that died)
would read as the fill value (0 K, 0 Pa, a calm day); such a step is missing data, treated
as a NaN step, with a message naming the variable, the time and the fill value. A static
field whose NaNs are only cells holding its fill value (zarr v2 land-sea mask with fill
value 0: xarray masks the ocean) is read as stored when every chunk of it is written,
else refused naming the fill value (see :mod:`aurora_xai.data.static`).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np
import pandas as pd

from ..dates import utc_datetime, utc_index, utc_timestamp
from .boxes import BoxReads
from .coords import IMPRECISE_TIMES
from .field_checks import check_finite, declared_of, files_label
from .grid_conventions import canonicalise_grid, check_grid
from .orientation import FLIP_MARGIN, latitude_flip_score
from .read_bytes import bytes_needed
from .sources import SOURCES, open_static, open_store
from .static import read_static
from .store import Store
from .units import UnitConversion, check_plausible, resolve_units
from .variables import LEVELS, WB2_NAMES

__all__ = [
    "ERA5Source",
    "MissingTimeError",
    "canonicalise_grid",
    "check_grid",
    "open_source",
]

log = logging.getLogger(__name__)


class MissingTimeError(KeyError):
    """A requested time is not in the store, or is stored as NaN (missing data)."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


@dataclasses.dataclass
class ERA5Source(BoxReads):
    """An ERA5 store opened once, read sample by sample.

    Args:
        path: Local zarr path or ``gs://`` URL (opened anonymously through gcsfs); for
            ``source="cds"`` a NetCDF file, folder, glob pattern or list of those.
        levels: Pressure levels to read, hPa.
        history: Time between the two history steps.
        static_path: Optional separate store or NetCDF file with the static fields
            (WeatherBench 2 names, or CDS ``z, lsm, slt``); regridded once if its grid differs.
        on_missing: ``"error"`` (default) or ``"skip"`` for requested times not in the store
            or stored as NaN (callers check :meth:`has_time`, read with ``skip_empty``
            and record the skipped dates with :meth:`missing_reason`).
        source: Schema of the store, one of :data:`aurora_xai.data.sources.SOURCES`.
        names: Optional overrides of the store names, ``{kind: {aurora name: store name}}``
            with kinds ``surf``, ``atmos``, ``static``.
        orientation_check: ``"auto"`` (on for ``arco``), ``"on"`` or ``"off"``: detect time
            steps stored north-south mirrored and flip them back.
        flipped_times: Times known to be stored mirrored; flipped without checking.
        imprecise_times: ``"snap"`` (default) or ``"error"``: a time axis stored with too
            little precision to hold its times (``float32`` seconds since 1970 reads 06:00
            as 06:00:32) is read as the round times its values stand for, with a warning
            naming the stored time, dtype and units, or refused with that message (see
            :func:`aurora_xai.data.coords.snap_times`).
    """

    path: str
    levels: Sequence[int] = LEVELS
    history: pd.Timedelta = pd.Timedelta(hours=6)
    static_path: str | None = None
    on_missing: str = "error"
    source: str = "weatherbench2"
    names: Mapping[str, Mapping[str, str]] | None = None
    orientation_check: str = "auto"
    flipped_times: Sequence = ()
    imprecise_times: str = "snap"

    def __post_init__(self) -> None:
        if self.on_missing not in ("error", "skip"):
            raise ValueError(f"data.on_missing: expected 'error' or 'skip', got {self.on_missing!r}")
        if self.source not in SOURCES:
            raise ValueError(f"data.source: expected one of {list(SOURCES)}, got {self.source!r}")
        if self.orientation_check not in ("auto", "on", "off"):
            raise ValueError(f"data.orientation_check: expected auto, on or off, got {self.orientation_check!r}")
        self.history = pd.Timedelta(self.history)
        if self.imprecise_times not in IMPRECISE_TIMES:
            raise ValueError(
                f"data.imprecise_times: expected one of {list(IMPRECISE_TIMES)}, got {self.imprecise_times!r}"
            )
        self.store: Store = open_store(self.source, self.path, imprecise_times=self.imprecise_times)
        self.ds = self.store.parts[0]
        self.names = _merge_names(self.names)
        needed = [n for kind in ("surf", "atmos") for n in self.names[kind].values()]
        missing = [n for n in needed if not self.store.has_variable(n)]
        if missing:
            raise KeyError(
                f"variables {missing} not in {self.source} store {self.path}; available: {self.store.variables}"
            )
        self.levels = tuple(int(v) for v in self.levels)
        for name in self.names["atmos"].values():
            store_levels = self.store.levels(name)
            absent = [lv for lv in self.levels if lv not in store_levels]
            if absent:
                raise KeyError(
                    f"data.levels: levels {absent} hPa of {name!r} not in store {self.path} (it has {store_levels})"
                )
        self.lat = self.store.lat.copy()
        self.lon = self.store.lon.copy()
        check_grid(len(self.lat), len(self.lon))
        index = None
        for name in needed:
            t = self.store.times(name)
            index = t if index is None else index.intersection(t)
        self._time_index = pd.DatetimeIndex(index).sort_values()
        #: Descriptions of the unit conversions applied (surface, atmospheric, static).
        self.unit_conversions: list[str] = []
        #: Time-dependent variable -> its conversion, or None (no declared units).
        self._units: dict[str, UnitConversion | None] = {}
        for kind in ("surf", "atmos"):
            for short, name in self.names[kind].items():
                self._units[name] = self._declared_units(self.store, kind, short, name)
        #: Static fields as float32 numpy arrays ``(lat, lon)``, read and regridded once.
        self.static_arrays: dict[str, np.ndarray] = self._read_static()
        self._static_tensors: dict | None = None
        self._flip_known = {utc_timestamp(t) for t in self.flipped_times}
        self._check_flip = self.orientation_check == "on" or (
            self.orientation_check == "auto" and self.source == "arco"
        )
        if self._check_flip and not np.allclose(self.lat, -self.lat[::-1]):
            msg = "the orientation check needs latitudes symmetric about the equator"
            if self.orientation_check == "on":
                raise ValueError(f"data.orientation_check: {msg}")
            log.warning("%s; it is off for %s", msg, self.path)
            self._check_flip = False
        #: Times whose data were found stored mirrored and flipped back (provenance).
        self.flipped: list[pd.Timestamp] = []
        #: Time steps found to be missing data (stored as NaN, or chunks never written) by
        #: reads that skip them -> what was missing.
        self.empty_steps: dict[pd.Timestamp, str] = {}
        self._unwritten_steps: set[pd.Timestamp] = set()
        log.info(
            "opened %s (%s): %d times, grid %dx%d, levels %s",
            self.path,
            self.source,
            len(self._time_index),
            len(self.lat),
            len(self.lon),
            list(self.levels),
        )

    # ----------------------------------------------------------------------------------
    def _declared_units(self, store: Store, kind: str, short: str, name: str) -> UnitConversion | None:
        """The conversion of ``name`` from its declared units (None: none declared), logged."""
        declared = store.units(name)
        convs = {f: resolve_units(kind, short, u, name, f) for f, u in declared.items()}
        if len({None if c is None else (c.scale, c.offset) for c in convs.values()}) > 1:
            listed = ", ".join(f"{f}: {u!r}" for f, u in declared.items())
            raise ValueError(
                f"variable {name!r} is stored in different units in different files ({listed}); "
                "convert the files to one unit"
            )
        conv = next(iter(convs.values()))
        where = files_label(list(declared))
        if conv is None:
            log.info(
                "variable %r in %s declares no units: its values are checked for plausibility in %s units",
                name,
                where,
                "Aurora's",
            )
        elif not conv.is_identity:
            conv = dataclasses.replace(conv, file=where)
            log.warning("converting units of %s", conv.describe())
            self.unit_conversions.append(conv.describe())
        return conv

    def _read_static(self) -> dict[str, np.ndarray]:
        src = open_static(self.static_path, self.imprecise_times) if self.static_path else self.store
        return read_static(src, self.names["static"], self.lat, self.lon, self._declared_units)

    @property
    def static(self) -> dict:
        """Static fields as ``torch.Tensor`` ``(lat, lon)``, the same objects on every call.

        (torch is imported here, so reading and labelling work in an environment without it.)
        """
        if self._static_tensors is None:
            import torch

            self._static_tensors = {k: torch.from_numpy(v) for k, v in self.static_arrays.items()}
        return self._static_tensors

    def has_time(self, time: pd.Timestamp) -> bool:
        """Whether ``time`` and its history step are both in the store.

        (A step stored as NaN counts as stored here; reads find it, see :meth:`batches`.)
        """
        t = utc_timestamp(time)
        return t in self._time_index and (t - self.history) in self._time_index

    def missing_reason(self, time: pd.Timestamp, history: bool = True) -> str | None:
        """Why the sample at ``time`` cannot be used, or None if no reason is known.

        A step not in the store, or a step found stored as NaN by an earlier read that
        skipped it (:attr:`empty_steps`). ``history=False`` asks about the step ``time``
        alone.
        """
        t = utc_timestamp(time)
        steps = [t - self.history, t] if history else [t]
        for s in steps:
            if s not in self._time_index:
                return f"time {s:%Y-%m-%d %H:%M} is not in the store"
        for s in steps:
            if s in self._unwritten_steps:
                return f"time {s:%Y-%m-%d %H:%M} is missing data ({self.empty_steps[s]})"
            if s in self.empty_steps:
                return f"time {s:%Y-%m-%d %H:%M} is stored as NaN ({self.empty_steps[s]})"
        return None

    def _missing(self, tt: pd.Timestamp, t: pd.Timestamp) -> MissingTimeError:
        span = ""
        if self.store.valid is not None:
            span = f" (valid span {self.store.valid[0]:%Y-%m-%d %H:%M} .. {self.store.valid[1]:%Y-%m-%d %H:%M})"
        return MissingTimeError(
            f"time {tt:%Y-%m-%d %H:%M} (needed for the sample at {t:%Y-%m-%d %H:%M}) "
            f"is not in {self.source} store {self.path}{span}{self._nearest_note(tt)}"
        )

    def _nearest_note(self, t: pd.Timestamp) -> str:
        """``"; the nearest stored time is ..."`` when one lies within minutes of ``t`` (else ``""``)."""
        stored = self._time_index
        if not len(stored):
            return ""
        k = stored.get_indexer([t], method="nearest")[0]
        near = stored[k]
        if near == t or abs(near - t) > pd.Timedelta(hours=1):
            return ""
        axis = self.store.time_axis_note(self.names["surf"]["2t"])
        return (
            f"; the nearest stored time is {near:%Y-%m-%d %H:%M:%S}"
            + (f" ({axis})" if axis else "")
            + ": a time axis stored with too little precision? (data.imprecise_times)"
        )

    def _sample_times(self, time: pd.Timestamp) -> list[pd.Timestamp]:
        t = utc_timestamp(time)
        out = [t - self.history, t]
        for tt in out:
            if tt not in self._time_index:
                raise self._missing(tt, t)
        return out

    # ----------------------------------------------------------------------------------
    def _flipped_steps(self, times: Sequence[pd.Timestamp], t2m: np.ndarray | None) -> np.ndarray:
        """Which of ``times`` are stored mirrored (``t2m``: their 2 m temperature as stored)."""
        out = np.array([utc_timestamp(t) in self._flip_known for t in times], dtype=bool)
        if self._check_flip and t2m is not None:
            zs = self.static_arrays["z"]
            for i, t in enumerate(times):
                if out[i]:
                    continue
                direct, mirrored = latitude_flip_score(t2m[i], zs, self.lat)
                if mirrored < direct - FLIP_MARGIN and mirrored < -0.2:
                    out[i] = True
                    log.warning(
                        "%s: data stored north-south mirrored (orography correlation %.2f as stored, "
                        "%.2f mirrored); flipped back",
                        f"{pd.Timestamp(t):%Y-%m-%d %H:%M}",
                        direct,
                        mirrored,
                    )
        for t, f in zip(times, out):
            if f and pd.Timestamp(t) not in self.flipped:
                self.flipped.append(pd.Timestamp(t))
        return out

    def read_steps(
        self, times: Sequence[pd.Timestamp], check: bool = True, skip_empty: bool = False
    ) -> dict[str, np.ndarray]:
        """Read every needed field at ``times``: ``{store name: array}``, canonical orientation.

        Surface arrays ``(time, lat, lon)``, atmospheric ``(time, level, lat, lon)``, float32,
        in Aurora's units. All ``times`` must be stored (see :meth:`has_step`). ``check``
        runs the NaN check (naming variable, level and time; a step at which every field
        is entirely NaN raises :class:`MissingTimeError`, or with ``skip_empty`` stays NaN
        in the output and is recorded in :attr:`empty_steps`) and, for fields without
        declared units, the plausibility check.
        """
        return self._read(times, check=check, skip_empty=skip_empty)[0]

    def _read(
        self, times: Sequence[pd.Timestamp], check: bool, skip_empty: bool
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Read, flip, check and convert; returns the fields and which steps are stored as NaN."""
        times = [utc_timestamp(t) for t in times]
        for t in times:
            if t not in self._time_index:
                raise self._missing(t, t)
        out = {}
        kinds = {}
        unwritten: dict[pd.Timestamp, str] = {}
        for kind in ("surf", "atmos"):
            for short, name in self.names[kind].items():
                out[name] = self.store.read(
                    name, times, levels=self.levels if kind == "atmos" else None, unwritten=unwritten
                )
                kinds[name] = (kind, short)
        flips = self._flipped_steps(times, out[self.names["surf"]["2t"]])
        if flips.any():
            for arr in out.values():
                arr[flips] = arr[flips][..., ::-1, :]
        empty = self._check_fields(
            out, kinds, times, skip_empty, "every field the sample needs", unwritten, check=check
        )
        return out, empty

    def _check_fields(
        self,
        out: dict[str, np.ndarray],
        kinds: Mapping[str, tuple[str, str]],
        times: Sequence[pd.Timestamp],
        skip_empty: bool,
        what: str,
        unwritten: Mapping[pd.Timestamp, str] | None = None,
        check: bool = True,
    ) -> np.ndarray:
        """Missing steps, NaN check, unit conversion and plausibility of freshly read fields ``(time, ...)``.

        ``out`` is converted to Aurora's units in place (each array replaced). A step is
        missing data when every field is entirely NaN there, or when chunks of any field
        were never written there (``unwritten``: ``{time: why}`` from
        :meth:`aurora_xai.data.store.Store.read`, whose steps read as NaN). Missing steps
        are recorded in :attr:`empty_steps` when ``skip_empty``; without it they raise
        :class:`MissingTimeError`. With ``check``, any other non-finite value raises
        ``ValueError`` naming variable, level, time and grid cell, and every field
        (declared units or not) is checked against :func:`check_plausible` after conversion.

        Returns:
            bool ``(time,)``: the missing steps.
        """
        n = len(times)
        unwritten = unwritten or {}
        lacking = np.array([pd.Timestamp(t) in unwritten for t in times], dtype=bool)
        bad = [name for name, arr in out.items() if not np.isfinite(arr).all()] if check or lacking.any() else []
        empty = np.zeros(n, dtype=bool)
        if bad and len(bad) == len(out):
            empty[:] = True
            for name in bad:
                empty &= np.isnan(out[name].reshape(n, -1)).all(axis=1)
        if not check:
            empty[:] = False
        empty |= lacking
        for i in np.flatnonzero(empty):
            t = pd.Timestamp(times[i])
            if t in unwritten:
                why = unwritten[t]
                if not skip_empty:
                    raise MissingTimeError(
                        f"time {t:%Y-%m-%d %H:%M} is missing data in {self.source} store {self.path}: {why}; "
                        "with data.on_missing: skip such times are skipped"
                    )
                if t not in self.empty_steps:
                    log.warning("time %s is missing data: %s", f"{t:%Y-%m-%d %H:%M}", why)
                    self.empty_steps[t] = why
                    self._unwritten_steps.add(t)
                continue
            if not skip_empty:
                raise MissingTimeError(
                    f"time {t:%Y-%m-%d %H:%M} is stored as NaN in {what} (missing data) in {self.source} store "
                    f"{self.path}; with data.on_missing: skip such times are skipped"
                )
            if t not in self.empty_steps:
                log.warning("time %s is stored as NaN in %s (missing data)", f"{t:%Y-%m-%d %H:%M}", what)
                self.empty_steps[t] = f"{what} entirely NaN: missing data"
        keep = ~empty
        kept = [t for t, k in zip(times, keep) if k]
        for name, arr in out.items():
            kind, short = kinds[name]
            levels = self.levels if kind == "atmos" else None
            if check and keep.any() and name in bad:
                check_finite(
                    arr if keep.all() else arr[keep], name, levels, None, times=kept, lat=self.lat, lon=self.lon
                )
            conv = self._units[name]
            if conv is not None:
                arr = out[name] = conv.apply(arr)
            if check and keep.any():
                part = arr if keep.all() else arr[keep]
                check_plausible(
                    kind, short, part, name, self.path, times=kept, levels=levels, declared=declared_of(conv)
                )
        return empty

    def store_times(self) -> pd.DatetimeIndex:
        """The times (naive UTC, ascending) at which every needed field is stored."""
        return self._time_index.copy()

    def has_step(self, time: pd.Timestamp) -> bool:
        """Whether every needed field is stored at ``time`` itself (no history step)."""
        return utc_timestamp(time) in self._time_index

    def read_fields(self, time: pd.Timestamp) -> dict[str, np.ndarray]:
        """Read the raw fields of one sample: ``{store name: array}``.

        Surface arrays have shape ``(2, lat, lon)``, atmospheric ``(2, level, lat, lon)``;
        history step first, float32, canonical orientation. Only these variables, levels
        and two times are read.
        """
        return self.read_steps(self._sample_times(time))

    def batch(self, time: pd.Timestamp):
        """The Aurora batch whose current time is ``time`` (history ``time - history``).

        Returns:
            ``aurora.Batch`` with surface variables ``(1, 2, lat, lon)``, atmospheric
            ``(1, 2, level, lat, lon)`` and static ``(lat, lon)``.
        """
        return self._make_batch(time, self.read_fields(time))

    def batches(self, times: Sequence[pd.Timestamp], skip_empty: bool = False) -> list:
        """The batches of several samples, read together.

        The distinct steps of all ``times`` (targets and history steps) are read with one
        indexed read per variable, which amortises the per-read overhead of the store
        (chunk requests are issued together). Memory: all their fields at once, so
        callers read a few samples per call.

        Args:
            times: Current times of the samples (all stored, see :meth:`has_time`).
            skip_empty: A sample one of whose steps is stored as NaN (every field it needs
                entirely NaN: missing data, as ARCO-ERA5 marks it) gives ``None`` in place
                of its batch, and the step is recorded in :attr:`empty_steps` (see
                :meth:`missing_reason`). Without it such a step raises
                :class:`MissingTimeError`.

        Returns:
            One ``aurora.Batch`` (or ``None``) per time, in order.
        """
        times = [utc_timestamp(t) for t in times]
        steps = sorted({s for t in times for s in self._sample_times(t)})
        raw, empty = self._read(steps, check=True, skip_empty=skip_empty)
        where = {s: i for i, s in enumerate(steps)}
        uses = collections.Counter(s for t in times for s in self._sample_times(t))
        out = []
        for t in times:
            idx = [where[s] for s in self._sample_times(t)]
            if empty[idx].any():
                out.append(None)
                continue
            own = all(uses[s] == 1 for s in self._sample_times(t)) and np.all(np.diff(idx) == 1)
            take = slice(idx[0], idx[-1] + 1) if own else idx  # steps of its own: a view, no copy
            out.append(self._make_batch(t, {name: arr[take] for name, arr in raw.items()}))
        return out

    def _make_batch(self, time: pd.Timestamp, raw: dict[str, np.ndarray]):
        import torch
        from aurora import Batch, Metadata

        surf = {s: torch.from_numpy(np.ascontiguousarray(raw[n]))[None] for s, n in self.names["surf"].items()}
        atmos = {s: torch.from_numpy(np.ascontiguousarray(raw[n]))[None] for s, n in self.names["atmos"].items()}
        t = utc_datetime(time)
        return Batch(
            surf_vars=surf,
            static_vars=dict(self.static),
            atmos_vars=atmos,
            metadata=Metadata(
                lat=torch.from_numpy(self.lat.copy()),
                lon=torch.from_numpy(self.lon.copy()),
                time=(t,),
                atmos_levels=self.levels,
            ),
        )

    def available(self, short: str, times: Sequence[pd.Timestamp], kind: str = "surf") -> pd.DatetimeIndex:
        """Those of ``times`` (as naive UTC) at which the variable ``short`` is stored."""
        stored = self.store.times(self.names[kind][short])
        times = utc_index(times)
        return times[times.isin(stored)]

    def bytes_needed(self) -> int:
        """Uncompressed bytes of the fields one sample needs (see :func:`aurora_xai.data.read_bytes.bytes_needed`)."""
        return bytes_needed(self)


def _merge_names(overrides: Mapping[str, Mapping[str, str]] | None) -> dict[str, dict[str, str]]:
    names = {kind: dict(table) for kind, table in WB2_NAMES.items()}
    for kind, table in (overrides or {}).items():
        if kind not in names:
            raise ValueError(f"data.variable_names: unknown kind {kind!r}; expected one of {list(names)}")
        for short, name in table.items():
            if short not in names[kind]:
                raise ValueError(
                    f"data.variable_names.{kind}: unknown Aurora variable {short!r}; expected one of {list(names[kind])}"
                )
            names[kind][short] = str(name)
    return names


def open_source(
    source: str,
    path,
    levels: Sequence[int] = LEVELS,
    history: pd.Timedelta | float = 6,
    static_path: str | None = None,
    on_missing: str = "error",
    **kwargs,
) -> ERA5Source:
    """Open ``path`` as an :class:`ERA5Source` with the adapter of ``source``.

    ``history`` may be a ``Timedelta`` or a number of hours. Extra keywords
    (``names``, ``orientation_check``, ``flipped_times``) go to :class:`ERA5Source`.
    """
    if not isinstance(history, pd.Timedelta):
        history = pd.Timedelta(hours=float(history))
    return ERA5Source(
        path=path,
        levels=levels,
        history=history,
        static_path=static_path,
        on_missing=on_missing,
        source=source,
        **kwargs,
    )


def sample_times(times: Sequence[datetime | pd.Timestamp]) -> pd.DatetimeIndex:
    """Normalise a sequence of times to a ``DatetimeIndex`` (naive, meaning UTC)."""
    return utc_index(times)
