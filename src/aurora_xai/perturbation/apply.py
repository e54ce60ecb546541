"""Masked inputs: what a masked cell is set to, and batched application of many masks.

Masks act on the raw (physical) batch, which Aurora normalises itself; each masked
value is chosen so that its meaning is defined in the model's normalised space:

* ``normalised_zero`` (the study's): the cell is set to the normalisation *location* of
  its variable and pressure level (``aurora.normalisation.locations['msl']``,
  ``locations['z_500']``, or the model's ``surf_stats`` where it overrides them), so the
  model sees exactly 0 after its normalisation ``(x - location) / scale``.
  :func:`normalisation_fill`.
* ``climatology``: a day-of-year climatology from the store (:func:`climatology_fill`):
  for each history step, the mean over the store's days whose day of year lies within
  ``window_days`` of the case's (circularly), at the same UTC hour. Days of the case's
  own year are left out when the store has other years (a climatology the case does not
  contribute to); with a one-year store (the embedded synthetic store covers 2005) the
  same year is used, so the fill is a smoothed seasonal estimate that includes the case
  itself with weight ``1 / (2 window_days + 1)``.
* ``smooth``: the input blurred in space (:func:`smoothed_fill`): Gaussian with standard
  deviation ``scale_deg`` or a box of width ``scale_deg``, in grid cells converted from
  degrees along each axis, longitude periodic on a global grid, latitude edges
  replicated. It removes small scales and keeps the large-scale state.

Which fields: every surface and atmospheric variable at every history step by default
(the study's), or a subset (``variables`` by Aurora name, ``levels`` in hPa for the
atmospheric ones, ``history`` in hours relative to the batch time, ``-6`` and ``0``).
Static fields are never masked: an ``aurora.Batch`` shares one static field across its
batch dimension, so they cannot differ between masks of a batched pass.

Batching (:func:`masked_batch`): ``K`` masks turn one sample into an ``aurora.Batch`` of
batch size ``K`` (surface ``(K, 2, H, W)``, atmospheric ``(K, 2, L, H, W)``, static
``(H, W)``, ``metadata.time`` a tuple of ``K`` equal times).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import ndimage

__all__ = [
    "MASK_VALUES",
    "MaskFields",
    "climatology_fill",
    "history_indices",
    "masked_batch",
    "normalisation_fill",
    "smoothed_fill",
]

MASK_VALUES = ("normalised_zero", "climatology", "smooth")


@dataclasses.dataclass(frozen=True)
class MaskFields:
    """Which fields a mask touches.

    Args:
        variables: Aurora names of surface and atmospheric variables; ``None``: all.
        levels: Pressure levels (hPa) of the atmospheric variables; ``None``: all.
        history: History steps in hours relative to the batch time; ``None``: all.
    """

    variables: tuple[str, ...] | None = None
    levels: tuple[float, ...] | None = None
    history: tuple[float, ...] | None = None

    @classmethod
    def from_config(cls, variables=None, levels=None, history=None) -> MaskFields:
        return cls(
            None if variables is None else tuple(str(v) for v in variables),
            None if levels is None else tuple(float(v) for v in levels),
            None if history is None else tuple(float(h) for h in history),
        )

    def check(self, batch: Any, step_hours: float = 6.0) -> None:
        known = set(batch.surf_vars) | set(batch.atmos_vars)
        if self.variables is not None:
            bad = sorted(set(self.variables) - known)
            if bad:
                raise KeyError(f"masked variables {bad} not in the batch (it has {sorted(known)})")
        if self.levels is not None:
            have = [float(v) for v in batch.metadata.atmos_levels]
            bad = [v for v in self.levels if v not in have]
            if bad:
                raise KeyError(f"masked levels {bad} hPa not in the batch (it has {have})")
        T = next(iter(batch.surf_vars.values())).shape[1]
        history_indices(self.history, T, step_hours)


def history_indices(hours: Sequence[float] | None, T: int, step_hours: float = 6.0) -> list[int]:
    """Indices into the history axis (oldest first) of steps given in hours (``-6``, ``0``)."""
    if hours is None:
        return list(range(T))
    out = []
    for h in hours:
        k = (T - 1) + float(h) / step_hours
        if not float(k).is_integer() or not 0 <= k < T:
            offsets = [(i - (T - 1)) * step_hours for i in range(T)]
            raise ValueError(f"history step {h} h is not one of the batch's steps {offsets}")
        out.append(int(k))
    return out


def _replace(batch: Any, surf: Mapping[str, torch.Tensor], atmos: Mapping[str, torch.Tensor], times=None) -> Any:
    meta = batch.metadata if times is None else dataclasses.replace(batch.metadata, time=tuple(times))
    return dataclasses.replace(batch, surf_vars=dict(surf), atmos_vars=dict(atmos), metadata=meta)


# --------------------------------------------------------------------------------------
# Fills: a batch of the same shape holding the value every masked cell takes.
# --------------------------------------------------------------------------------------


def normalisation_fill(batch: Any, surf_stats: Mapping[str, tuple[float, float]] | None = None) -> Any:
    """Fill with the normalisation location of each variable and level (0 in normalised space).

    Args:
        batch: The sample (raw units).
        surf_stats: The model's ``surf_stats`` (they override Aurora's surface locations).
    """
    from aurora.normalisation import level_to_str, locations

    stats = dict(surf_stats or {})

    def surf_loc(name: str) -> float:
        return float(stats[name][0]) if name in stats else float(locations[name])

    surf = {k: torch.full_like(v, surf_loc(k)) for k, v in batch.surf_vars.items()}
    atmos = {}
    for k, v in batch.atmos_vars.items():
        loc = torch.tensor(
            [locations[f"{k}_{level_to_str(lv)}"] for lv in batch.metadata.atmos_levels],
            dtype=v.dtype,
            device=v.device,
        )
        atmos[k] = loc[:, None, None].expand_as(v).clone()
    return _replace(batch, surf, atmos)


def _cells(deg: float, coord: np.ndarray) -> float:
    coord = np.asarray(coord, dtype=float)
    if len(coord) < 2:
        return 0.0
    step = float(np.median(np.abs(np.diff(coord))))
    return float(deg) / step if step > 0 else 0.0


def smoothed_fill(
    batch: Any,
    kind: str = "gaussian",
    scale_deg: float = 9.0,
    wrap_lon: bool | None = None,
) -> Any:
    """Fill with the input blurred over latitude and longitude.

    Args:
        kind: ``gaussian`` (standard deviation ``scale_deg``) or ``box`` (width
            ``scale_deg``, rounded to an odd number of cells, at least 1).
        scale_deg: Smoothing scale in degrees, converted to cells per axis.
        wrap_lon: Periodic longitude (default: when the grid covers the circle).
    """
    from .masks import is_global_longitude

    lat = batch.metadata.lat.detach().cpu().numpy()
    lon = batch.metadata.lon.detach().cpu().numpy()
    if wrap_lon is None:
        wrap_lon = is_global_longitude(lon)
    clat, clon = _cells(scale_deg, lat), _cells(scale_deg, lon)
    lon_mode = "wrap" if wrap_lon else "nearest"

    def blur(x: torch.Tensor) -> torch.Tensor:
        a = x.detach().cpu().numpy().astype(np.float64)
        lead = a.ndim - 2
        if kind == "gaussian":
            sigma = [0.0] * lead + [clat, clon]
            out = ndimage.gaussian_filter(a, sigma=sigma, mode=["nearest"] * (lead + 1) + [lon_mode], truncate=4.0)
        elif kind == "box":
            size = [1] * lead + [max(1, 2 * int(round(c / 2)) + 1) for c in (clat, clon)]
            out = ndimage.uniform_filter(a, size=size, mode=["nearest"] * (lead + 1) + [lon_mode])
        else:
            raise ValueError(f"smoothing kind must be 'gaussian' or 'box', got {kind!r}")
        return torch.as_tensor(out, dtype=x.dtype, device=x.device)

    surf = {k: blur(v) for k, v in batch.surf_vars.items()}
    atmos = {k: blur(v) for k, v in batch.atmos_vars.items()}
    return _replace(batch, surf, atmos)


def climatology_times(
    available: pd.DatetimeIndex,
    time: pd.Timestamp,
    window_days: int = 15,
    exclude_same_year: bool = True,
) -> pd.DatetimeIndex:
    """Sample times (same UTC hour as ``time``) in the day-of-year window around ``time``.

    Days are compared on a 365-day circle (29 February counts as 28 February). Times
    whose history step is not available are dropped. The case's own year is dropped
    when ``exclude_same_year`` and other years are available.
    """
    from ..dates import utc_index, utc_timestamp

    time = utc_timestamp(time)  # days of year and hours in UTC, whatever the process time zone
    avail = utc_index(available)
    cand = avail[(avail.hour == time.hour) & (avail.minute == time.minute)]

    def doy(t: pd.DatetimeIndex) -> np.ndarray:
        d = np.asarray(t.dayofyear)
        # Days after 28 February of a leap year move back by one (365-day circle).
        return np.where(np.asarray(t.is_leap_year) & (d > 59), d - 1, d)

    dist = np.abs(doy(cand) - doy(pd.DatetimeIndex([time]))[0])
    dist = np.minimum(dist, 365 - dist)
    sel = cand[dist <= window_days]
    if exclude_same_year and (sel.year != time.year).any():
        sel = sel[sel.year != time.year]
    return sel


def climatology_fill(
    source: Any,
    time: pd.Timestamp,
    window_days: int = 15,
    exclude_same_year: bool = True,
) -> tuple[Any, pd.DatetimeIndex]:
    """Day-of-year climatology of the sample at ``time`` from an :class:`ERA5Source`.

    Each history step of the fill is the mean of the same step of the samples at the
    times :func:`climatology_times` selects (one store read per time).

    Returns:
        ``(fill batch, times used)``. With ``source.on_missing == "skip"``, samples with a
        step stored as NaN (missing data) are left out of the mean.
    """
    from ..dates import utc_timestamp

    time = utc_timestamp(time)
    index = pd.DatetimeIndex(source._time_index)
    times = [t for t in climatology_times(index, time, window_days, exclude_same_year) if source.has_time(t)]
    if not times:
        raise ValueError(f"climatology: no sample in the store within {window_days} days of {time:%m-%d}")
    template = source.batch(time)
    acc_s = {k: torch.zeros_like(v, dtype=torch.float64) for k, v in template.surf_vars.items()}
    acc_a = {k: torch.zeros_like(v, dtype=torch.float64) for k, v in template.atmos_vars.items()}
    skip = getattr(source, "on_missing", "error") == "skip"
    used = []
    for t in times:
        b = source.batches([t], skip_empty=skip)[0]
        if b is None:  # a step stored as NaN (missing data), skipped
            continue
        used.append(t)
        for k in acc_s:
            acc_s[k] += b.surf_vars[k].double()
        for k in acc_a:
            acc_a[k] += b.atmos_vars[k].double()
    if not used:
        raise ValueError(f"climatology: every sample within {window_days} days of {time:%m-%d} is stored as NaN")
    times = used
    n = float(len(times))
    surf = {k: (v / n).to(template.surf_vars[k].dtype) for k, v in acc_s.items()}
    atmos = {k: (v / n).to(template.atmos_vars[k].dtype) for k, v in acc_a.items()}
    return _replace(template, surf, atmos), pd.DatetimeIndex(times)


# --------------------------------------------------------------------------------------
# Application.
# --------------------------------------------------------------------------------------


def masked_batch(
    batch: Any,
    fill: Any,
    masks: np.ndarray | torch.Tensor,
    fields: MaskFields | None = None,
    step_hours: float = 6.0,
) -> Any:
    """One masked copy of ``batch`` per mask, as one ``aurora.Batch`` of batch size ``K``.

    Args:
        batch: The sample, batch size 1 (raw units).
        fill: Batch of the same shape with the masked value of every cell.
        masks: Booleans ``(K, lat, lon)`` (or one ``(lat, lon)`` mask).
        fields: Which variables, levels and history steps are masked (default: all).
        step_hours: Hours between history steps.
    """
    fields = fields if fields is not None else MaskFields()
    m = torch.as_tensor(np.asarray(masks, dtype=bool) if not torch.is_tensor(masks) else masks)
    if m.ndim == 2:
        m = m[None]
    K = m.shape[0]
    some = next(iter(batch.surf_vars.values()))
    if some.shape[0] != 1:
        raise ValueError(f"masked_batch needs a sample of batch size 1, got {some.shape[0]}")
    if tuple(m.shape[1:]) != tuple(some.shape[-2:]):
        raise ValueError(f"masks of shape {tuple(m.shape[1:])} do not match the grid {tuple(some.shape[-2:])}")
    m = m.to(some.device)
    T = some.shape[1]
    hist = torch.zeros(T, dtype=torch.bool, device=some.device)
    hist[history_indices(fields.history, T, step_hours)] = True
    levels = [float(v) for v in batch.metadata.atmos_levels]
    lev = torch.ones(len(levels), dtype=torch.bool, device=some.device)
    if fields.levels is not None:
        lev[:] = False
        lev[[levels.index(float(v)) for v in fields.levels]] = True

    def chosen(name: str) -> bool:
        return fields.variables is None or name in fields.variables

    surf = {}
    for k, x in batch.surf_vars.items():
        xs = x.expand(K, *x.shape[1:])
        if chosen(k):
            sel = m[:, None] & hist[None, :, None, None]  # (K, T, H, W)
            xs = torch.where(sel, fill.surf_vars[k].to(x.dtype).expand_as(xs), xs)
        surf[k] = xs.contiguous()
    atmos = {}
    for k, x in batch.atmos_vars.items():
        xs = x.expand(K, *x.shape[1:])
        if chosen(k):
            sel = m[:, None, None] & hist[None, :, None, None, None] & lev[None, None, :, None, None]
            xs = torch.where(sel, fill.atmos_vars[k].to(x.dtype).expand_as(xs), xs)
        atmos[k] = xs.contiguous()
    return _replace(batch, surf, atmos, times=tuple(batch.metadata.time) * K)
