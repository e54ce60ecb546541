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
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import ndimage

from .settings import MaskFields, history_indices

__all__ = [
    "climatology_fill",
    "masked_batch",
    "normalisation_fill",
    "smoothed_fill",
]


def _replace(batch: Any, surf: Mapping[str, torch.Tensor], atmos: Mapping[str, torch.Tensor], times=None) -> Any:
    meta = batch.metadata if times is None else dataclasses.replace(batch.metadata, time=tuple(times))
    return dataclasses.replace(batch, surf_vars=dict(surf), atmos_vars=dict(atmos), metadata=meta)


# --------------------------------------------------------------------------------------
# Fills: a batch of the same shape holding the value every masked cell takes.
# --------------------------------------------------------------------------------------


def normalisation_fill(batch: Any, surf_stats: Mapping[str, tuple[float, float]] | None = None) -> Any:
    """Fill with the normalisation location of each variable and level (0 in normalised space).

    Each location comes from :func:`aurora_xai.model.normalisation_stats`, the lookup
    the workflow's config check uses too.

    Args:
        batch: The sample (raw units): surface ``(b, t, lat, lon)``, atmospheric
            ``(b, t, level, lat, lon)``.
        surf_stats: The model's ``surf_stats`` (they override Aurora's surface locations).

    Returns:
        A batch of the same shapes (static fields and metadata shared with ``batch``).

    Raises:
        NormalisationError: Aurora has no statistics for a variable or level of the batch
            (e.g. 975 hPa); the message names it and the levels Aurora supports.
    """
    from aurora_xai.model import normalisation_stats

    surf = {k: torch.full_like(v, normalisation_stats(k, None, surf_stats)[0]) for k, v in batch.surf_vars.items()}
    atmos = {}
    for k, v in batch.atmos_vars.items():
        loc = torch.tensor(
            [normalisation_stats(k, lv)[0] for lv in batch.metadata.atmos_levels],
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
    lazy: bool = True,
    threads: int | None = None,
) -> tuple[Any, pd.DatetimeIndex]:
    """Day-of-year climatology of the sample at ``time`` from an :class:`ERA5Source`.

    Each history step of the fill is the mean (accumulated in float64) of the same step
    of the samples at the times :func:`climatology_times` selects, read with
    ``source.batches``. With ``lazy`` (the default) the mean is a dask graph over those
    samples, computed by ``threads`` threads (default: up to 4), each summing its share of
    the samples in turn, so reads of many years overlap; memory is one sample and one
    float64 sum per thread (about 0.6 + 1.1 GB at 0.25 deg). ``lazy=False`` reads and
    sums the samples one after another; both give the same fill up to float32 rounding.

    Returns:
        ``(fill batch, times used)``: the fill has the shapes of ``source.batch(time)``
        (surface ``(1, 2, lat, lon)``, atmospheric ``(1, 2, level, lat, lon)``). With
        ``source.on_missing == "skip"``, samples with a step stored as NaN (missing data)
        are left out of the mean.

    Raises:
        ValueError: No sample within ``window_days``, or every one stored as NaN.
    """
    from ..dates import utc_timestamp

    time = utc_timestamp(time)
    index = pd.DatetimeIndex(source._time_index)
    times = [t for t in climatology_times(index, time, window_days, exclude_same_year) if source.has_time(t)]
    if not times:
        raise ValueError(f"climatology: no sample in the store within {window_days} days of {time:%m-%d}")
    template = source.batch(time)
    skip = getattr(source, "on_missing", "error") == "skip"
    if lazy:
        total = _lazy_sample_sum(source, times, skip, threads)
    else:
        total = None
        for t in times:
            total = _add_sample(total, source, t, skip)
    if total is None:
        raise ValueError(f"climatology: every sample within {window_days} days of {time:%m-%d} is stored as NaN")
    n = float(len(total.times))
    surf = {k: (v / n).to(template.surf_vars[k].dtype) for k, v in total.surf.items()}
    atmos = {k: (v / n).to(template.atmos_vars[k].dtype) for k, v in total.atmos.items()}
    return _replace(template, surf, atmos), pd.DatetimeIndex(sorted(total.times))


@dataclasses.dataclass
class _SampleSum:
    """Float64 sums of the fields of some samples (batch shapes) and their times."""

    surf: dict[str, torch.Tensor]
    atmos: dict[str, torch.Tensor]
    times: list[pd.Timestamp]


def _add_sample(acc: _SampleSum | None, source: Any, t: pd.Timestamp, skip: bool) -> _SampleSum | None:
    """``acc`` plus the sample at ``t`` (unchanged if it is skipped as stored NaN)."""
    b = source.batches([t], skip_empty=skip)[0]
    if b is None:  # a step stored as NaN (missing data), skipped
        return acc
    if acc is None:
        return _SampleSum(
            {k: v.double() for k, v in b.surf_vars.items()}, {k: v.double() for k, v in b.atmos_vars.items()}, [t]
        )
    for k in acc.surf:
        acc.surf[k] += b.surf_vars[k].double()
    for k in acc.atmos:
        acc.atmos[k] += b.atmos_vars[k].double()
    acc.times.append(t)
    return acc


def _merge_sums(*parts: _SampleSum | None) -> _SampleSum | None:
    """One sum of several partial sums (``None``: nothing summed)."""
    out = None
    for p in parts:
        if p is None:
            continue
        if out is None:
            out = p
            continue
        for k in out.surf:
            out.surf[k] += p.surf[k]
        for k in out.atmos:
            out.atmos[k] += p.atmos[k]
        out.times.extend(p.times)
    return out


def _lazy_sample_sum(source: Any, times: list[pd.Timestamp], skip: bool, threads: int | None) -> _SampleSum | None:
    """The sum of the samples at ``times`` as a dask graph of ``threads`` chains, computed."""
    import uuid

    import dask

    k = max(1, min(int(threads) if threads else 4, len(times)))
    tag = uuid.uuid4().hex
    # the source is bound in a closure and keys are named: dask neither hashes nor copies it
    add = dask.delayed(lambda acc, t: _add_sample(acc, source, t, skip), name=f"climatology-add-{tag}", pure=True)
    chains = []
    for j in range(k):
        acc = None
        for i in range(j, len(times), k):
            acc = add(acc, times[i], dask_key_name=f"climatology-sample-{tag}-{i}")
        chains.append(acc)
    total = dask.delayed(_merge_sums, name=f"climatology-merge-{tag}", pure=True)(
        *chains, dask_key_name=f"climatology-merge-{tag}"
    )
    return total.compute(scheduler="threads", num_workers=k)


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
    fields = fields if fields is not None else MaskFields.everything()
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
