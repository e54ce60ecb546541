"""Pooling statistics and region weights (aurora_xai.latents.pooling)."""

from __future__ import annotations

import numpy as np
import pytest

from aurora_xai.latents.pooling import pool_grid, region_weights
from aurora_xai.regions import Region


def test_pooling_statistics_and_weights():
    rng = np.random.default_rng(0)
    lat = np.array([60.0, 0.0, -60.0])
    lon = np.array([0.0, 90.0, 180.0, 270.0])
    x = rng.normal(size=(2, 3, 4, 5))
    out = pool_grid(x, lat, lon, {"g": Region("g", -90, 90, 0, 360)}, area_weighted=False)
    flat = x.reshape(2, 12, 5)
    np.testing.assert_allclose(out[0, :, 0], flat.mean(1))
    np.testing.assert_allclose(out[0, :, 1], flat.std(1))
    np.testing.assert_allclose(out[0, :, 2], np.sqrt((flat**2).mean(1)))
    w = region_weights(Region("g", -90, 90, 0, 360), lat, lon, area_weighted=True)
    assert w.sum() == pytest.approx(1.0) and w[1, 0] / w[0, 0] == pytest.approx(1 / np.cos(np.radians(60)))
    with pytest.raises(ValueError, match="no latent patch"):
        region_weights(Region("tiny", 10, 11, 5, 6), lat, lon, True)
