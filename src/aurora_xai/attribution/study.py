"""The study's attribution: relevance for a named storm case, and for every labelled day.

A *case* is a catalogued storm with a case time. Its target is either a forecast
variable at +6 h over a region (default: mean sea-level pressure over the storm's box)
or the latent tokens of a layer over a region (the published target: backbone latents
over Europe, here with the true latitude/longitude geometry).

The *labelled days* are the storm and calm days of the label table
(:mod:`aurora_xai.storms.table`). :func:`relevance_for_days` computes the relevance of
each day's sample and keeps only its moments inside the labels' box
(:func:`~aurora_xai.attribution.composites.day_moments`), for the composites of
:mod:`aurora_xai.attribution.composites`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ..data.era5 import MissingTimeError
from ..dates import utc_timestamp
from ..logs import Progress
from ..regions import Region
from ..storms.catalogue import StormEvent
from .cases import DAY_KEYS, AttributionSettings, day_settings
from .composites import day_moments, empty_day_moments, stack_days
from .methods import compute_relevance
from .targets import ForecastTarget, LatentTarget

__all__ = ["DAY_KEYS", "case_target", "day_settings", "region_target", "relevance_for_case", "relevance_for_days"]

log = logging.getLogger(__name__)


def region_target(settings: AttributionSettings, region: Region) -> ForecastTarget | LatentTarget:
    """The target ``settings`` describe (forecast variable or latent layer) over ``region``."""
    if settings.target == "latent":
        return LatentTarget(layer=settings.latent_layer, region=region)
    return ForecastTarget(variable=settings.target_variable, level=settings.target_level, region=region)


def case_target(settings: AttributionSettings, event: StormEvent, regions: Mapping[str, Region]):
    """The scalar target of a case."""
    if settings.target_region == "box":
        region = event.box
    elif settings.target_region in regions:
        region = regions[settings.target_region]
    else:
        raise ValueError(f"attribution.target_region: unknown region {settings.target_region!r}")
    return region_target(settings, region)


def relevance_for_case(
    model: torch.nn.Module,
    source: Any,
    attribution: AttributionSettings,
    event: StormEvent,
    regions: Mapping[str, Region],
    checkpointing: bool = False,
) -> xr.Dataset:
    """Relevance of every input for the case's target, with the case in the attributes.

    Args:
        model: The Aurora model.
        source: The ERA5 source (:class:`~aurora_xai.data.era5.ERA5Source`).
        attribution: The ``attribution`` computation keys.
        event: The case's storm (``storms.<case>``, with its ``case_time``).
        regions: The named regions (a ``target_region`` other than ``box``).
        checkpointing: Activation checkpointing (same relevance, less memory).
    """
    case = event.name
    target = case_target(attribution, event, regions)
    batch = source.batch(event.case_time)
    ds = compute_relevance(
        model,
        batch,
        target,
        method=attribution.method,
        attention_rule=attribution.attention_rule,
        epsilon=attribution.epsilon,
        checkpointing=checkpointing,
        dtype=torch.float64 if attribution.dtype == "float64" else torch.float32,
    )
    lsm = source.static_arrays["lsm"]
    ds = ds.assign_coords(land_sea_mask=(("latitude", "longitude"), np.asarray(lsm, dtype=np.float32)))
    ds.attrs.update(
        case=case,
        case_time=f"{event.case_time:%Y-%m-%dT%H:%M}",
        storm_kind=event.kind,
        box=f"{event.box.lat_min},{event.box.lat_max},{event.box.lon_min},{event.box.lon_max}",
        description=event.description,
    )
    return ds


#: Bytes of samples :func:`relevance_for_days` reads at once when ``block`` is None.
READ_BLOCK_BYTES = 1_000_000_000


def read_block(source: Any, most: int = 8) -> int:
    """Samples per read that fit in :data:`READ_BLOCK_BYTES` (1 to ``most``), from the
    bytes one sample needs (``source.bytes_needed()``; ``most`` for a source without it)."""
    needed = getattr(source, "bytes_needed", None)
    if needed is None:
        return most
    return max(1, min(most, READ_BLOCK_BYTES // max(1, int(needed()))))


def _read_blocks(source: Any, times: list[pd.Timestamp], block: int, skip_empty: bool) -> Iterator[tuple]:
    """``(time, batch)`` in order, ``block`` samples per read (:meth:`ERA5Source.batches`)."""
    for i in range(0, len(times), block):
        part = times[i : i + block]
        yield from zip(part, source.batches(part, skip_empty=skip_empty))


def _day_times(table: pd.DataFrame, hour: int) -> pd.DatetimeIndex:
    return pd.DatetimeIndex([utc_timestamp(f"{d}T{hour:02d}:00") for d in table["date"]])


def relevance_for_days(
    model: torch.nn.Module,
    source: Any,
    attribution: AttributionSettings,
    region: Region,
    hour: int,
    table: pd.DataFrame,
    checkpointing: bool = False,
    device: torch.device | str | None = None,
    block: int | None = None,
) -> xr.Dataset:
    """Relevance of every labelled day's sample, summarised inside the labels' box.

    Each day's sample is the one of the latents analysis: current time the day at
    ``dates.target_hour`` (UTC), history ``dates.history_hours`` earlier (as ``source``
    was opened). Its target is the cases' target (``attribution.target``,
    ``target_variable``, ``target_level`` or ``latent_layer``) over the labels' box
    (``labels.region``); with the defaults, the mean normalised +6 h mean sea-level
    pressure forecast over the US box, valid at 12 UTC, the hour at which the day was
    labelled. Of each relevance dataset only its moments in the same box are kept
    (:func:`~aurora_xai.attribution.composites.day_moments`), one model pass at a time
    (:func:`~aurora_xai.attribution.methods.compute_relevance` takes one sample), the
    samples read ``block`` at a time (one indexed read per variable and block).

    Args:
        model: The Aurora model (built once by the caller), on ``device``.
        source: The opened store (:class:`~aurora_xai.data.era5.ERA5Source`). With
            ``data.on_missing: skip`` a day whose sample is not stored (or stored as
            NaN) is left out and recorded.
        attribution: The :data:`~aurora_xai.attribution.cases.DAY_KEYS` of ``attribution``
            (:func:`~aurora_xai.attribution.cases.day_settings`).
        region: The labels' box (``labels.region``).
        hour: The samples' hour, ``dates.target_hour`` (UTC).
        table: The label table (:func:`aurora_xai.storms.table.read_storm_days`).
        checkpointing: Activation checkpointing (same relevance, less memory).
        device: Where the model runs (the batch is moved there); None: the CPU.
        block: Samples per read (memory: ``block`` samples at once); None: as many as
            :data:`READ_BLOCK_BYTES` hold, 1 to 8 (at 0.25 deg a sample is 0.57 GB and an
            LRP pass takes minutes: one at a time).

    Returns:
        A days dataset: the variables of
        :func:`~aurora_xai.attribution.composites.day_moments` with a leading ``date``
        (the sample time, naive UTC, in time order), per-day ``target_value``, ``relevance_sum``,
        ``conservation_error``, ``share_absorbed`` and ``closure_error`` (NaN where the
        method has none), coordinates ``day``, ``label``, ``rank``, ``wind`` on ``date``;
        attributes ``target``, ``method``, ``region`` (and its box), ``target_hour``,
        ``n_storm``, ``n_calm`` (days computed), ``n_storm_labelled``, ``n_calm_labelled``
        (days in the table), ``skipped_days`` and ``skipped_reasons`` (JSON), and
        those of the relevance method (``attention_rule``, ``epsilon``, ``dtype``).

    Raises:
        MissingTimeError: a day's sample is not in the store and ``data.on_missing`` is
            ``error``; the message names the day, its label and the sample time.
    """
    target = region_target(attribution, region)
    dtype = torch.float64 if attribution.dtype == "float64" else torch.float32
    times = _day_times(table, hour)
    rows = {t: r for t, r in zip(times, table.to_dict("records"))}
    skip = getattr(source, "on_missing", "error") == "skip"
    skipped: dict[pd.Timestamp, str] = {}
    keep = []
    for t in times:
        if source.has_time(t):
            keep.append(t)
            continue
        reason = source.missing_reason(t) or "not in the store"
        row = rows[t]
        if not skip:
            raise MissingTimeError(
                f"{row['label']} day {row['date']} of the label table: its sample at {t:%Y-%m-%d %H:%M} "
                f"(dates.target_hour = {hour}) cannot be read: {reason}; with data.on_missing: skip "
                "such days are left out"
            )
        skipped[t] = reason
        log.warning("skipping %s day %s: %s (data.on_missing = skip)", row["label"], row["date"], reason)
    keep.sort()  # chronological reads: neighbouring days share stored chunks
    if block is None:
        block = read_block(source)
    days, per_day, done = [], [], []
    attrs: dict[str, Any] = {}
    progress = Progress(len(keep), unit="day")
    for i, (t, batch) in enumerate(_read_blocks(source, keep, block, skip), start=1):
        row = rows[t]
        if batch is None:
            skipped[t] = source.missing_reason(t) or "stored as NaN"
            log.warning("skipping %s day %s: %s (data.on_missing = skip)", row["label"], row["date"], skipped[t])
            continue
        if device is not None and torch.device(device).type != "cpu":
            batch = batch.to(device)
        ds = compute_relevance(
            model,
            batch,
            target,
            method=attribution.method,
            attention_rule=attribution.attention_rule,
            epsilon=attribution.epsilon,
            checkpointing=checkpointing,
            dtype=dtype,
        )
        days.append(day_moments(ds, region))
        per_day.append({k: float(ds.attrs.get(k, np.nan)) for k in _DAY_ATTRS})
        done.append(t)
        if not attrs:
            attrs = {
                k: ds.attrs[k] for k in ("target", "method", "attention_rule", "epsilon", "dtype") if k in ds.attrs
            }
        if progress.update(i):
            log.info(
                "[%d/%d] %s day %s done: conservation error %.3g (%s)",
                i,
                len(keep),
                row["label"],
                row["date"],
                per_day[-1]["conservation_error"],
                progress.rate(),
            )
    empty = None
    if not days:
        empty = empty_day_moments(
            list(source.names["atmos"]),
            [float(v) for v in source.levels],
            [*source.names["surf"], *(f"static_{k}" for k in source.names["static"])],
        )
    out = stack_days(days, done, [rows[t] for t in done], empty=empty)
    for k in _DAY_ATTRS:
        out[k] = ("date", np.asarray([d[k] for d in per_day], dtype=float))
    _describe(out)
    labels = [rows[t]["label"] for t in done]
    out.attrs.update(
        attrs,
        target=attrs.get("target", target.describe()),
        method=attribution.method,
        region=region.name,
        region_box=f"{region.lat_min},{region.lat_max},{region.lon_min},{region.lon_max}",
        target_hour=hour,
        n_storm=labels.count("storm"),
        n_calm=labels.count("calm"),
        n_storm_labelled=int((table["label"] == "storm").sum()),
        n_calm_labelled=int((table["label"] == "calm").sum()),
        skipped_days=",".join(str(rows[t]["date"]) for t in sorted(skipped)),
        skipped_reasons=json.dumps({str(rows[t]["date"]): r for t, r in sorted(skipped.items())}, sort_keys=True),
        seconds_per_day=progress.elapsed / max(1, len(done)),
        summary="moments of |R| inside the labels' box (see aurora_xai.attribution.composites)",
    )
    return out


_DAY_ATTRS = ("target_value", "relevance_sum", "conservation_error", "share_absorbed", "closure_error")


def _describe(ds: xr.Dataset) -> None:
    """CF-style attributes of a days dataset's variables (in place)."""
    units = "target units"
    text = {
        "abs_relevance": ("sum of |R| over history steps and the box's cells", units),
        "signed_relevance": ("sum of R over history steps and the box's cells", units),
        "lat_moment": ("sum of |R| * latitude over the box", f"{units} * degrees_north"),
        "sin_moment": ("sum of |R| * sin(longitude) over the box", units),
        "cos_moment": ("sum of |R| * cos(longitude) over the box", units),
        "input_abs_relevance": ("sum of |R| of a surface or static input over the box", units),
        "abs_relevance_box": ("sum of |R| of all inputs over the box", units),
        "abs_relevance_grid": ("sum of |R| of all inputs over the grid", units),
        "target_value": ("value of the day's target", units),
        "relevance_sum": ("sum of R of all inputs over the grid", units),
        "conservation_error": ("|sum R - target| / |target|", "1"),
        "share_absorbed": ("share of the target absorbed by constant terms", "1"),
        "closure_error": ("|sum R + absorbed - target| / |target| (LRP)", "1"),
    }
    for name, (long_name, unit) in text.items():
        if name in ds:
            ds[name].attrs.update(long_name=long_name, units=unit)
