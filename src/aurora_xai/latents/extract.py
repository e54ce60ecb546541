"""Per-date latent extraction and pooling: one model, one opened store, many dates (needs torch)."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import time as _time
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ..data.era5 import ERA5Source
from ..dates import date_metadata, utc_index
from ..regions import Region
from .geometry import (
    LATENT_LEVEL_DIM,
    LATENT_LEVEL_NAMES,
    patch_centres,
    patch_lat_edges,
    published_token_grid,
    stage_resolutions,
    tokens_to_grid,
)
from .pooling import STATS, pool_grid
from .taps import capture_latents

__all__ = ["prefetch_batches", "extract_pooled", "resolve_device"]

log = logging.getLogger(__name__)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def prefetch_batches(
    source: ERA5Source, times: Sequence[pd.Timestamp], block: int = 8, depth: int = 2, skip_empty: bool = False
) -> Iterator[tuple]:
    """Yield ``(time, batch)`` in order; blocks of ``block`` samples are read ahead.

    Reading runs in a background thread (file I/O and decompression release the GIL, so
    it overlaps the model's forward pass), ``depth`` blocks ahead, each block with one
    indexed read per variable (:meth:`ERA5Source.batches`). With ``skip_empty``, a sample
    with a step stored as NaN (missing data) yields ``(time, None)``.
    """
    times = list(times)
    blocks = [times[i : i + block] for i in range(0, len(times), block)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="read") as pool:
        futures = [pool.submit(source.batches, b, skip_empty) for b in blocks[:depth]]
        for i, blk in enumerate(blocks):
            batches = futures[i].result()
            if i + depth < len(blocks):
                futures.append(pool.submit(source.batches, blocks[i + depth], skip_empty))
            yield from zip(blk, batches)


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
) -> xr.Dataset:
    """Run the model on each date and pool the tapped latents over each region.

    Args:
        source: Opened store.
        model: Aurora model on ``device``, in eval mode.
        times: Current times of the samples.
        tap: Latent tap (see :mod:`aurora_xai.latents.taps`).
        regions: Regions to pool over.
        area_weighted: Weight tokens by the exact area of their patch (the latitude
            edges of the grid rows it covers).
        stats: Pooling statistics.
        device: Where the model runs.
        skip_missing: Skip dates whose times are not in the store or are stored as NaN
            (every field the sample needs entirely NaN: missing data) instead of failing;
            recorded in the attributes ``skipped_dates`` (comma-separated) and
            ``skipped_reasons`` (JSON, date -> reason). Partial NaNs stay an error naming
            variable, level and time.
        published_geometry: Pool with the published implementation's wrong token
            geometry (:func:`~aurora_xai.latents.geometry.published_token_grid`), for
            comparison. The pooled latent levels then collapse to one, ``all``.

    Returns:
        Dataset with ``pooled`` of dims ``(date, region, latent_level, stat, channel)`` and
        per-date coordinates ``month``, ``day_of_year``, ``season`` (dates naive UTC).
        Attributes include ``unit_conversions`` (what the source converted).
    """
    times = utc_index(times)
    skipped: dict[pd.Timestamp, str] = {}
    if skip_missing:
        keep = [t for t in times if source.has_time(t)]
        for t in times:
            if not source.has_time(t):
                skipped[t] = source.missing_reason(t) or "not in the store"
                log.warning("skipping %s: %s (data.on_missing = skip)", f"{t:%Y-%m-%dT%H}", skipped[t])
        times = pd.DatetimeIndex(keep)
    pooled = []
    done_times = []
    lat_c = lon_c = lat_edges = None
    t0 = _time.perf_counter()
    with capture_latents(model, tap) as box, torch.inference_mode():
        for i, (t, batch) in enumerate(prefetch_batches(source, list(times), skip_empty=skip_missing)):
            if batch is None:
                skipped[t] = source.missing_reason(t) or "stored as NaN"
                log.warning("skipping %s: %s (data.on_missing = skip)", f"{t:%Y-%m-%dT%H}", skipped[t])
                continue
            done_times.append(t)
            model(batch.to(device) if str(device) != "cpu" else batch)
            tokens = box["tokens"]
            stage = int(box["stage"])
            if lat_c is None:
                lat = batch.metadata.lat.numpy()
                lon = batch.metadata.lon.numpy()
                patch = model.encoder.patch_size
                lat_c, lon_c = patch_centres(lat, lon, patch, stage)
                lat_edges = patch_lat_edges(lat, patch, stage)
                patch_res = (model.encoder.latent_levels, len(lat) // patch, len(lon) // patch)
                res = stage_resolutions(patch_res, len(model.backbone.encoder_layers))[stage]
            grid = tokens_to_grid(tokens, res)[0]
            if published_geometry:
                stacked, lat_stacked = published_token_grid(grid, lat_c)
                pooled.append(pool_grid(stacked, lat_stacked, lon_c, regions, area_weighted, stats))
            else:
                pooled.append(pool_grid(grid, lat_c, lon_c, regions, area_weighted, stats, lat_edges))
            done = i + 1
            if done == 1 or done % 10 == 0 or done == len(times):
                rate = (_time.perf_counter() - t0) / done
                log.info("[%d/%d] %s done (%.3f s per date)", done, len(times), f"{t:%Y-%m-%d %H:%M}", rate)
    if not pooled:
        raise ValueError("no dates to extract (all skipped or an empty shard)")
    times = pd.DatetimeIndex(done_times)
    skipped = dict(sorted(skipped.items()))
    arr = np.stack(pooled).astype(np.float32)
    meta = date_metadata(times)
    ds = xr.Dataset(
        {"pooled": (("date", "region", LATENT_LEVEL_DIM, "stat", "channel"), arr)},
        coords={
            "date": times.values.astype("datetime64[ns]"),
            "region": list(regions),
            LATENT_LEVEL_DIM: ["all"] if published_geometry else list(LATENT_LEVEL_NAMES[: arr.shape[2]]),
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
        token_geometry="published (levels stacked along latitude)" if published_geometry else "true (level, lat, lon)",
        skipped_dates=",".join(f"{t:%Y-%m-%dT%H}" for t in skipped),
        skipped_reasons=json.dumps({f"{t:%Y-%m-%dT%H}": r for t, r in skipped.items()}, sort_keys=True),
        unit_conversions=json.dumps(list(getattr(source, "unit_conversions", []))),
        patch_lat_centres=",".join(f"{v:.4f}" for v in lat_c),
        patch_lon_centres=",".join(f"{v:.4f}" for v in lon_c),
    )
    return ds
