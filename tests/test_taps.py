"""Latent taps recorded during the tiny model's forward passes (aurora_xai.latents.taps)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from aurora_xai.data.era5 import ERA5Source
from aurora_xai.latents.geometry import patch_centres, stage_resolutions
from aurora_xai.latents.taps import capture_latents
from aurora_xai.model import ModelSpec, build_model


def test_capture_latents_shapes_and_geometry(small_store):
    src = ERA5Source(str(small_store))
    model = build_model(ModelSpec.from_schema())
    batch = src.batch(pd.Timestamp("2005-01-05T06"))
    lat_c, lon_c = patch_centres(src.lat, src.lon)
    for tap, stage, dim in [
        ("encoder", 0, 32),
        ("backbone.encoder.1", 1, 64),
        ("bottleneck", 2, 128),
        ("backbone", 0, 64),
    ]:
        with capture_latents(model, tap) as box, torch.inference_mode():
            model(batch)
        res = stage_resolutions((4, len(lat_c), len(lon_c)), 3)[box["stage"]]
        assert box["stage"] == stage
        assert box["tokens"].shape == (1, np.prod(res), dim)
    assert not model.backbone._forward_hooks and not model.encoder._forward_hooks
    with pytest.raises(ValueError, match="unknown tap"):
        with capture_latents(model, "decoder"):
            pass
