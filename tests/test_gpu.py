"""GPU code paths (skipped without a CUDA device; CI has none)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from aurora_xai.data.era5 import ERA5Source
from aurora_xai.latents.extract import extract_pooled
from aurora_xai.model import ModelSpec, build_model
from aurora_xai.regions import Region, regions_from_config

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_extraction_on_gpu_matches_cpu(small_store):
    src = ERA5Source(str(small_store))
    regions = regions_from_config({"us": dict(lat_min=24, lat_max=50, lon_min=235, lon_max=295)})
    times = pd.DatetimeIndex(["2005-01-02T06", "2005-01-03T06"])
    cpu = extract_pooled(src, build_model(ModelSpec.from_schema()), times, "backbone", regions)
    gpu = extract_pooled(
        src, build_model(ModelSpec.from_schema(), device="cuda"), times, "backbone", regions, device="cuda"
    )
    np.testing.assert_allclose(gpu["pooled"].values, cpu["pooled"].values, rtol=1e-3, atol=1e-4)


def test_lrp_on_gpu_matches_cpu(small_store):
    from aurora_xai.attribution.methods import compute_relevance
    from aurora_xai.attribution.targets import ForecastTarget

    src = ERA5Source(str(small_store))
    batch = src.batch(pd.Timestamp("1987-10-16T06"))
    target = ForecastTarget("msl", region=Region("europe", 30, 72, 348, 45))
    cpu = compute_relevance(build_model(ModelSpec.from_schema()), batch, target)
    gpu = compute_relevance(build_model(ModelSpec.from_schema(), device="cuda"), batch, target)
    np.testing.assert_allclose(gpu["msl"].values, cpu["msl"].values, rtol=1e-2, atol=1e-6)
    assert gpu.attrs["conservation_error"] == pytest.approx(cpu.attrs["conservation_error"], abs=1e-3)


BIG = {
    "north": Region("north", 0, 90, 0, 360),
    "wrap": Region("wrap", -60, 72, 300, 100),  # across the prime meridian
}


def test_device_pooling_on_gpu_equals_the_numpy_reference():
    from aurora_xai.latents.geometry import patch_centres, patch_lat_edges
    from aurora_xai.latents.pooling import RegionPooler, pool_grid, region_box

    lat, lon = np.linspace(90, -90, 721), np.arange(1440) * 0.25
    lat_c, lon_c = patch_centres(lat, lon)
    edges = patch_lat_edges(lat)
    g = torch.Generator(device="cuda").manual_seed(0)
    tokens = 2.0 + torch.randn((2, 4, len(lat_c), len(lon_c), 16), generator=g, device="cuda")
    regions = {"globe": Region("globe", -90, 90, 0, 360), **BIG, "us": Region("us", 24, 50, 235, 295)}
    pooler = RegionPooler([region_box(r, lat_c, lon_c, True, edges) for r in regions.values()], device="cuda")
    got = pooler(tokens)
    assert got.device.type == "cuda" and got.dtype == torch.float64
    host = tokens.cpu().numpy()
    for b in range(2):
        want = pool_grid(host[b], lat_c, lon_c, regions, True, lat_edges=edges)
        np.testing.assert_allclose(got[b].cpu().numpy(), want, rtol=1e-6)


def test_batched_extraction_with_reader_processes_on_gpu_matches_cpu(small_store):
    from aurora_xai.latents.extract import extract_taps
    from aurora_xai.latents.taps import TAPS

    src = ERA5Source(str(small_store))
    times = pd.date_range("2005-01-02T06", periods=5, freq="D")
    cpu = extract_taps(src, build_model(ModelSpec.from_schema()), times, TAPS, BIG)
    gpu = extract_taps(
        src,
        build_model(ModelSpec.from_schema(), device="cuda"),
        times,
        TAPS,
        BIG,
        device="cuda",
        batch_size=2,
        num_workers=1,
    )
    for tap in TAPS:
        np.testing.assert_allclose(gpu[tap]["pooled"].values, cpu[tap]["pooled"].values, rtol=1e-3, atol=1e-4)


def test_early_stop_on_gpu_keeps_the_tokens():
    from aurora_xai.attribution._testing import synthetic_batch
    from aurora_xai.latents.loading import batch_to
    from aurora_xai.latents.taps import TAPS, record_taps

    model = build_model(ModelSpec.from_schema(), device="cuda")
    batch = batch_to(synthetic_batch(17, 32, dtype=torch.float32), "cuda")
    with torch.inference_mode():
        with record_taps(model, TAPS, stop=False) as rec:
            full = rec(batch)
        with record_taps(model, TAPS, stop=True) as rec:
            stopped = rec(batch)
    for tap in TAPS:
        assert torch.equal(full[tap], stopped[tap]), tap


def test_bf16_autocast_on_gpu_stays_close(small_store):
    from aurora_xai.latents.extract import extract_taps

    src = ERA5Source(str(small_store))
    times = pd.date_range("2005-01-02T06", periods=2, freq="D")
    fp32 = extract_taps(
        src, build_model(ModelSpec.from_schema(), device="cuda"), times, ("backbone",), BIG, device="cuda"
    )
    spec = ModelSpec.from_schema(autocast=True)
    bf16 = extract_taps(src, build_model(spec, device="cuda"), times, ("backbone",), BIG, device="cuda")
    a, b = fp32["backbone"]["pooled"].values, bf16["backbone"]["pooled"].values
    assert np.linalg.norm(b - a) / np.linalg.norm(a) < 0.02
