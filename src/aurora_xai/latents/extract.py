"""Latent extraction and pooling: one model, one opened store, many dates, several taps (needs torch).

Per model batch of dates (:mod:`~aurora_xai.latents.loading`: read by worker processes
while the model runs), one forward pass records every requested tap and ends after the
deepest of them (:func:`~aurora_xai.latents.taps.record_taps`); each tap's tokens are
reshaped with their true geometry and pooled over the regions where they are
(:class:`~aurora_xai.latents.pooling.RegionPooler`, float64 on the model's device).
Only the pooled ``(date, region, latent level, stat, channel)`` numbers reach the host,
and, when a token sink is given, the tokens it keeps (the unpooled tokens of every tap
pass through it before pooling: :mod:`aurora_xai.features.tokens`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ..data.era5 import ERA5Source
from ..dates import date_metadata, utc_index
from ..logs import Progress
from ..regions import Region
from .geometry import (
    LATENT_LEVEL_DIM,
    LATENT_LEVEL_NAMES,
    patch_centres,
    patch_lat_edges,
    token_resolution,
)
from .loading import batch_to, sample_loader
from .pooling import STATS, RegionPooler, region_box
from .taps import record_taps

__all__ = ["TapGeometry", "extract_pooled", "extract_taps"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, eq=False)
class TapGeometry:
    """The token grid of one tap on one input grid, and its pooler.

    Attributes:
        res: ``(C, H, W)`` token resolution.
        lat: ``(H',)`` latitudes of the pooled rows (``H' = H``; ``C * H`` for the
            published geometry, whose rows stack the latent levels).
        lon: ``(W,)`` token-column centre longitudes.
        lat_centres: ``(H,)`` true token-row centre latitudes (recorded in the output).
        published: Whether tokens are pooled with the published geometry.
        pooler: Pools ``(B, C', H', W, D)`` grids over the regions.
    """

    res: tuple[int, int, int]
    lat: np.ndarray
    lon: np.ndarray
    lat_centres: np.ndarray
    published: bool
    pooler: RegionPooler

    @classmethod
    def build(
        cls,
        model: Any,
        stage: int,
        lat: np.ndarray,
        lon: np.ndarray,
        regions: Mapping[str, Region],
        area_weighted: bool,
        stats: Sequence[str],
        published: bool,
        device: torch.device | str,
    ) -> TapGeometry:
        """The geometry of the tokens of backbone ``stage`` on the grid ``(lat, lon)``."""
        patch = model.encoder.patch_size
        lat_c, lon_c = patch_centres(lat, lon, patch, stage)
        res = token_resolution(lat, lon, patch, model.encoder.latent_levels, len(model.backbone.encoder_layers), stage)
        if published:  # levels stacked along latitude, rows evenly spaced (published_token_grid)
            rows = np.linspace(lat_c[0], lat_c[-1], res[0] * len(lat_c))
            boxes = [region_box(r, rows, lon_c, area_weighted) for r in regions.values()]
        else:
            rows = lat_c
            edges = patch_lat_edges(lat, patch, stage)
            boxes = [region_box(r, lat_c, lon_c, area_weighted, edges) for r in regions.values()]
        return cls(tuple(res), rows, lon_c, lat_c, published, RegionPooler(boxes, stats, device))

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """Pool tokens ``(B, C*H*W, D)`` to ``(B, region, C', stat, D)`` float64 (``C' = 1``
        for the published geometry), on the tokens' device.

        Raises:
            ValueError: if the number of tokens does not match the resolution.
        """
        c, h, w = self.res
        b, n, d = tokens.shape
        if n != c * h * w:
            raise ValueError(f"{n} tokens do not match the resolution {self.res} ({c * h * w} tokens)")
        grid = tokens.reshape(b, 1, c * h, w, d) if self.published else tokens.reshape(b, c, h, w, d)
        return self.pooler(grid)


def extract_taps(
    source: ERA5Source,
    model: torch.nn.Module,
    times: Sequence[pd.Timestamp],
    taps: Sequence[str],
    regions: Mapping[str, Region],
    area_weighted: bool = True,
    stats: Sequence[str] = STATS,
    device: torch.device | str = "cpu",
    skip_missing: bool = False,
    published_geometry: bool = False,
    batch_size: int = 1,
    num_workers: int = 0,
    early_stop: bool = True,
    reopen: Callable[[], ERA5Source] | None = None,
    token_sink: Callable[[str, Sequence[pd.Timestamp], torch.Tensor, TapGeometry], None] | None = None,
) -> dict[str, xr.Dataset]:
    """Run the model once per batch of dates and pool the latents of every tap over each region.

    Args:
        source: Opened store.
        model: Aurora model on ``device``, in eval mode (with ``autocast``, the backbone
            runs in bf16 and its taps are pooled from bf16 tokens).
        times: Current times of the samples.
        taps: Latent taps (see :mod:`aurora_xai.latents.taps`); all are read from the
            same forward pass.
        regions: Regions to pool over.
        area_weighted: Weight tokens by the exact area of their patch (the latitude
            edges of the grid rows it covers).
        stats: Pooling statistics.
        device: Where the model runs; pooling runs there too.
        skip_missing: Skip dates whose times are not in the store or are stored as NaN
            (every field the sample needs entirely NaN: missing data) instead of failing;
            recorded in the attributes ``skipped_dates`` (comma-separated) and
            ``skipped_reasons`` (JSON, date -> reason). Partial NaNs stay an error naming
            variable, level and time.
        published_geometry: Pool with the published implementation's wrong token
            geometry (:func:`~aurora_xai.latents.geometry.published_token_grid`), for
            comparison. The pooled latent levels then collapse to one, ``all``.
        batch_size: Dates per forward pass (``latents.batch_size``); results do not
            depend on it beyond float32 rounding.
        num_workers: Reader processes that read the next batches while the model runs
            (0: read in this process).
        early_stop: End each forward pass after the deepest tap (the decoder and the
            forecast are not computed); the tokens are the same either way.
        reopen: Opens the store again in each reader process (needed for stores read
            through fsspec, e.g. ``gs://``); None: the workers use ``source``.
        token_sink: Called per batch and tap, before pooling, with ``(tap, times,
            tokens, geometry)``: the batch's ``(B,)`` dates, the tap's unpooled ``(B,
            C*H*W, D)`` tokens on ``device`` and its :class:`TapGeometry` (e.g.
            :class:`aurora_xai.features.tokens.TokenSink`, which writes a token sample
            from these same forward passes). None: the tokens are only pooled.

    Returns:
        Tap -> dataset with ``pooled`` of dims ``(date, region, latent_level, stat,
        channel)`` and per-date coordinates ``month``, ``day_of_year``, ``season``
        (dates naive UTC). Attributes include ``tap`` and ``unit_conversions`` (what the
        source converted).

    Raises:
        ValueError: for unknown taps or statistics, a region without a token centre, or
            when no date is left to extract.
    """
    taps = tuple(dict.fromkeys(taps))
    times = utc_index(times)
    skipped: dict[pd.Timestamp, str] = {}
    if skip_missing:
        keep = [t for t in times if source.has_time(t)]
        for t in times:
            if not source.has_time(t):
                skipped[t] = source.missing_reason(t) or "not in the store"
                log.warning("skipping %s: %s (data.on_missing = skip)", f"{t:%Y-%m-%dT%H}", skipped[t])
        times = pd.DatetimeIndex(keep)
    device = torch.device(device)
    loader = sample_loader(
        source,
        list(times),
        batch_size=batch_size,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        skip_empty=skip_missing,
        reopen=reopen,
    )
    pooled: dict[str, list[np.ndarray]] = {tap: [] for tap in taps}
    geometry: dict[str, TapGeometry] = {}
    done_times: list[pd.Timestamp] = []
    progress = Progress(len(times), unit="date")
    with record_taps(model, taps, stop=early_stop) as recorder, torch.inference_mode():
        for item in loader:
            for t, why in item.skipped.items():
                skipped[t] = why
                log.warning("skipping %s: %s (data.on_missing = skip)", f"{t:%Y-%m-%dT%H}", why)
            if item.batch is None:
                continue
            if not geometry:
                lat = item.batch.metadata.lat.numpy()
                lon = item.batch.metadata.lon.numpy()
                for tap in taps:
                    stage = recorder.points[tap].stage
                    geometry[tap] = TapGeometry.build(
                        model, stage, lat, lon, regions, area_weighted, stats, published_geometry, device
                    )
            tokens = recorder(batch_to(item.batch, device))
            for tap in taps:
                if token_sink is not None:
                    token_sink(tap, list(item.times), tokens[tap], geometry[tap])
                pooled[tap].append(geometry[tap].pool(tokens[tap]).cpu().numpy())
            del tokens
            done_times += item.times
            if progress.update(len(done_times)):
                log.info(
                    "[%d/%d] %s done (%s)",
                    len(done_times),
                    len(times),
                    f"{done_times[-1]:%Y-%m-%d %H:%M}",
                    progress.rate(),
                )
    if not done_times:
        raise ValueError("no dates to extract (all skipped or an empty shard)")
    log.info("%d forward passes for %d dates and %d taps", recorder.forward_passes, len(done_times), len(taps))
    dates = pd.DatetimeIndex(done_times)
    skipped = dict(sorted(skipped.items()))
    return {
        tap: _pooled_dataset(
            np.concatenate(pooled[tap]).astype(np.float32),
            dates,
            tap,
            regions,
            stats,
            area_weighted,
            geometry[tap],
            skipped,
            source,
        )
        for tap in taps
    }


def extract_pooled(
    source: ERA5Source,
    model: torch.nn.Module,
    times: Sequence[pd.Timestamp],
    tap: str,
    regions: Mapping[str, Region],
    area_weighted: bool = True,
    stats: Sequence[str] = STATS,
    device: torch.device | str = "cpu",
    skip_missing: bool = False,
    published_geometry: bool = False,
    **kwargs: Any,
) -> xr.Dataset:
    """Run the model on each date and pool the latents of one ``tap`` over each region.

    :func:`extract_taps` with one tap (same arguments; ``kwargs``: ``batch_size``,
    ``num_workers``, ``early_stop``, ``reopen``).

    Returns:
        Dataset with ``pooled`` of dims ``(date, region, latent_level, stat, channel)``
        (see :func:`extract_taps`).
    """
    return extract_taps(
        source,
        model,
        times,
        (tap,),
        regions,
        area_weighted=area_weighted,
        stats=stats,
        device=device,
        skip_missing=skip_missing,
        published_geometry=published_geometry,
        **kwargs,
    )[tap]


def _pooled_dataset(
    arr: np.ndarray,
    times: pd.DatetimeIndex,
    tap: str,
    regions: Mapping[str, Region],
    stats: Sequence[str],
    area_weighted: bool,
    geometry: TapGeometry,
    skipped: Mapping[pd.Timestamp, str],
    source: ERA5Source,
) -> xr.Dataset:
    meta = date_metadata(times)
    ds = xr.Dataset(
        {"pooled": (("date", "region", LATENT_LEVEL_DIM, "stat", "channel"), arr)},
        coords={
            "date": times.values.astype("datetime64[ns]"),
            "region": list(regions),
            LATENT_LEVEL_DIM: ["all"] if geometry.published else list(LATENT_LEVEL_NAMES[: arr.shape[2]]),
            "stat": list(stats),
            "channel": np.arange(arr.shape[-1]),
            "month": ("date", meta["month"]),
            "day_of_year": ("date", meta["day_of_year"]),
            "season": ("date", meta["season"]),
        },
    )
    ds["pooled"].attrs.update(
        long_name=f"pooled latent tokens at {tap}",
        description="per date, statistics of the tokens inside each region, per latent level and channel",
        area_weighted=int(area_weighted),
        area_weights="exact patch areas (sin of the upper minus sin of the lower latitude edge)"
        if area_weighted
        else "none (equal token weights)",
    )
    ds.attrs.update(
        tap=tap,
        token_geometry="published (levels stacked along latitude)" if geometry.published else "true (level, lat, lon)",
        skipped_dates=",".join(f"{t:%Y-%m-%dT%H}" for t in skipped),
        skipped_reasons=json.dumps({f"{t:%Y-%m-%dT%H}": r for t, r in skipped.items()}, sort_keys=True),
        unit_conversions=json.dumps(list(getattr(source, "unit_conversions", []))),
        patch_lat_centres=",".join(f"{v:.4f}" for v in geometry.lat_centres),
        patch_lon_centres=",".join(f"{v:.4f}" for v in geometry.lon),
    )
    return ds
