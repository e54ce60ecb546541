"""The surrogate's samples: ``(t - 6 h, t) -> t + 6 h`` from a store, and where they may come from.

A sample's input is the project's ``aurora.Batch`` of current time ``t``
(:meth:`aurora_xai.data.era5.ERA5Source.batches`: history step ``t - history``), its
target the state at ``t + step`` (the model's forecast step), read the same way. Training
times lie in ``surrogate.train_period``; they must be stored with both neighbours and must
not overlap the times the study reads (:func:`check_period`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..data.needs import StoreReads
from .settings import SurrogateSettings

__all__ = [
    "SampleBatch",
    "check_period",
    "even_pick",
    "read_samples",
    "stack_batches",
    "study_times",
    "training_times",
]

log = logging.getLogger(__name__)

KEY = "surrogate.train_period"


def study_times(reads: StoreReads, step: pd.Timedelta) -> pd.DatetimeIndex:
    """Every time the study reads (its dates, cases, labels and their history steps), each
    widened by ``step`` on both sides (a forecast from it, a sample whose target it is)."""
    targets = pd.DatetimeIndex(reads.dates)
    for extra in (
        reads.attribution_cases,
        reads.perturbation_cases,
        reads.validation_cases,
        reads.labels,
        reads.labelled_days,
    ):
        targets = targets.append(pd.DatetimeIndex(list(extra)))
    read = targets.append(targets - reads.history)
    return read.append(read - step).append(read + step).unique().sort_values()


def check_period(settings: SurrogateSettings, reads: StoreReads, step: pd.Timedelta) -> None:
    """Refuse a training period that overlaps the study's times.

    The period's samples read the 6-hourly times from its start day at 00 UTC to its end
    day at 18 UTC.

    Raises:
        ValueError: naming ``surrogate.train_period``, the first overlapping study time
            and how many there are.
    """
    lo, hi = settings.period
    study = study_times(reads, step)
    inside = study[(study >= lo) & (study <= hi)]
    if len(inside):
        raise ValueError(
            f"config key '{KEY}': {list(settings.train_period)} overlaps the study's times ({len(inside)} of the "
            f"times the study reads or forecasts, first {inside[0]:%Y-%m-%d %H:%M}); the surrogate trains on "
            "times outside them: choose a period outside the dates, the cases and the labelled days"
        )


def training_times(source: Any, settings: SurrogateSettings, step: pd.Timedelta) -> pd.DatetimeIndex:
    """The samples' current times: the 6-hourly ``t`` whose history step ``t - history``
    and target ``t + step`` lie in the period too, those the store holds (all three).

    Raises:
        ValueError: naming ``surrogate.train_period`` and the store's span when fewer
            than half of the period's samples are stored (a period outside the store).
    """
    first, last = settings.period
    wanted = pd.date_range(first + source.history, last - step, freq="6h")
    ok = [t for t in wanted if source.has_step(t - source.history) and source.has_step(t) and source.has_step(t + step)]
    stored = source.store_times()
    span = f"{stored[0]:%Y-%m-%d %H:%M} to {stored[-1]:%Y-%m-%d %H:%M}" if len(stored) else "no times"
    missing = len(wanted) - len(ok)
    if not ok or 2 * missing > len(wanted):
        raise ValueError(
            f"config key '{KEY}': {list(settings.train_period)} is not in the store {source.path} "
            f"({missing} of its {len(wanted)} 6-hourly samples lack t - {source.history}, t or t + {step}; "
            f"the store spans {span})"
        )
    if missing:
        log.warning("%s: %d of %d samples are not stored and are left out", KEY, missing, len(wanted))
    return pd.DatetimeIndex(ok)


def stack_batches(batches: Sequence[Any]) -> Any:
    """``aurora.Batch`` es of one sample each, stacked along the batch dimension (their
    times in order; static fields and coordinates of the first)."""
    import torch
    from aurora import Batch

    first = batches[0]
    return Batch(
        surf_vars={k: torch.cat([b.surf_vars[k] for b in batches]) for k in first.surf_vars},
        static_vars=first.static_vars,
        atmos_vars={k: torch.cat([b.atmos_vars[k] for b in batches]) for k in first.atmos_vars},
        metadata=dataclasses.replace(first.metadata, time=tuple(t for b in batches for t in b.metadata.time)),
    )


@dataclasses.dataclass(frozen=True)
class SampleBatch:
    """Stacked samples: ``inputs`` (an ``aurora.Batch``, surface ``(B, 2, lat, lon)``,
    atmospheric ``(B, 2, level, lat, lon)``) and ``target`` (the state at ``t + step`` as
    a one-step batch, ``(B, 1, ...)``), raw units."""

    inputs: Any
    target: Any
    times: pd.DatetimeIndex


def read_samples(source: Any, times: Sequence[pd.Timestamp], step: pd.Timedelta) -> SampleBatch:
    """Read the samples of current times ``times`` through :meth:`ERA5Source.batches`."""
    times = pd.DatetimeIndex(times)
    later = times + step
    read = source.batches(list(times) + list(later))
    inputs = stack_batches(read[: len(times)])
    ahead = stack_batches(read[len(times) :])
    target = dataclasses.replace(
        ahead,
        surf_vars={k: v[:, -1:] for k, v in ahead.surf_vars.items()},
        atmos_vars={k: v[:, -1:] for k, v in ahead.atmos_vars.items()},
    )
    return SampleBatch(inputs, target, times)


def even_pick(times: pd.DatetimeIndex, n: int) -> pd.DatetimeIndex:
    """``n`` of ``times`` (all if fewer), spread evenly from first to last."""
    if len(times) <= n:
        return times
    return times[np.unique(np.round(np.linspace(0, len(times) - 1, n)).astype(int))]
