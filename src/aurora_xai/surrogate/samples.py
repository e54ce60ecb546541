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
    "shuffled_target_times",
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


def read_samples(
    source: Any,
    times: Sequence[pd.Timestamp],
    step: pd.Timedelta,
    target_times: Sequence[pd.Timestamp] | None = None,
) -> SampleBatch:
    """Read the samples of current times ``times`` through :meth:`ERA5Source.batches`.

    ``target_times`` (default ``times``): sample ``i``'s target is the state at
    ``target_times[i] + step`` (another time's target for the data-randomisation control,
    :func:`shuffled_target_times`).

    Raises:
        ValueError: ``target_times`` of another length than ``times``.
    """
    times = pd.DatetimeIndex(times)
    paired = times if target_times is None else pd.DatetimeIndex(target_times)
    if len(paired) != len(times):
        raise ValueError(f"read_samples: {len(paired)} target times for {len(times)} samples")
    later = paired + step
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


def shuffled_target_times(times: pd.DatetimeIndex, seed: int) -> pd.DatetimeIndex:
    """The data-randomisation control's pairing: for each training time, the time whose
    +6 h target it is given instead of its own.

    A seeded random cyclic permutation of ``times`` (Sattolo's algorithm on a
    ``numpy.random.default_rng(seed)`` stream): one cycle through every time, so no time
    keeps its own target (with two or more times), and every target is used exactly once
    (the targets' distribution is unchanged; only their pairing with the inputs is lost).
    Follows the data-randomisation test of Adebayo et al. (2018, "Sanity checks for
    saliency maps"), which trains the same model on permuted labels.

    Returns:
        ``(len(times),)`` times: entry ``i`` is the time whose target sample ``i`` gets.
    """
    times = pd.DatetimeIndex(times)
    n = len(times)
    order = np.arange(n)
    rng = np.random.default_rng(seed)
    for i in range(n - 1, 0, -1):  # Sattolo: a uniformly drawn cyclic permutation
        j = int(rng.integers(0, i))
        order[i], order[j] = order[j], order[i]
    return times[order]
