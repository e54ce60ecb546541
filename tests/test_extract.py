"""Extraction of pooled latents on the tiny model (aurora_xai.latents.extract)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from aurora_xai.data.era5 import ERA5Source
from aurora_xai.latents.extract import extract_pooled
from aurora_xai.model import ModelSpec, build_model
from aurora_xai.regions import regions_from_config


def test_extraction_is_deterministic_and_records_skips(small_store):
    src = ERA5Source(str(small_store))
    model = build_model(ModelSpec.from_schema())
    regions = regions_from_config({"us": dict(lat_min=24, lat_max=50, lon_min=235, lon_max=295)})
    times = pd.DatetimeIndex(["2005-01-02T06", "2005-01-03T06"])
    a = extract_pooled(src, model, times, "backbone", regions)
    b = extract_pooled(src, model, times, "backbone", regions)
    assert a["pooled"].dims == ("date", "region", "latent_level", "stat", "channel")
    assert list(a["latent_level"].values) == ["surface", "atmos_1", "atmos_2", "atmos_3"]
    assert a["pooled"].shape == (2, 2, 4, 3, 64)
    np.testing.assert_array_equal(a["pooled"].values, b["pooled"].values)
    assert list(a["season"].values) == ["DJF", "DJF"]
    skipped = extract_pooled(
        src, model, times.append(pd.DatetimeIndex(["2005-03-01T06"])), "backbone", regions, skip_missing=True
    )
    assert skipped.attrs["skipped_dates"] == "2005-03-01T06" and skipped.sizes["date"] == 2
