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
    cpu = extract_pooled(src, build_model(ModelSpec()), times, "backbone", regions)
    gpu = extract_pooled(src, build_model(ModelSpec(), device="cuda"), times, "backbone", regions, device="cuda")
    np.testing.assert_allclose(gpu["pooled"].values, cpu["pooled"].values, rtol=1e-3, atol=1e-4)


def test_lrp_on_gpu_matches_cpu(small_store):
    from aurora_xai.attribution.methods import compute_relevance
    from aurora_xai.attribution.targets import ForecastTarget

    src = ERA5Source(str(small_store))
    batch = src.batch(pd.Timestamp("1987-10-16T06"))
    target = ForecastTarget("msl", region=Region("europe", 30, 72, 348, 45))
    cpu = compute_relevance(build_model(ModelSpec()), batch, target)
    gpu = compute_relevance(build_model(ModelSpec(), device="cuda"), batch, target)
    np.testing.assert_allclose(gpu["msl"].values, cpu["msl"].values, rtol=1e-2, atol=1e-6)
    assert gpu.attrs["conservation_error"] == pytest.approx(cpu.attrs["conservation_error"], abs=1e-3)
