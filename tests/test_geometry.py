"""The token grid (aurora_xai.latents.geometry): patch centres, stage resolutions, region masks and the published reshape."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aurora_xai.latents.geometry import patch_centres, stage_resolutions, token_resolution, tokens_to_grid
from aurora_xai.latents.pooling import pool_grid
from aurora_xai.regions import Region


def test_patch_centres_follow_the_crop():
    lat = np.linspace(90, -90, 61)  # 61 rows: the model drops the last
    lon = np.arange(120) * 3.0
    lat_c, lon_c = patch_centres(lat, lon)
    assert lat_c.shape == (15,) and lon_c.shape == (30,)
    assert lat_c[0] == pytest.approx(lat[:4].mean()) and lat_c[-1] == pytest.approx(lat[56:60].mean())
    assert np.all(np.diff(lat_c) < 0) and lon_c[0] == pytest.approx(4.5)
    # stage 1 merges pairs and pads the odd last row: 15 -> 8 rows
    lat1, lon1 = patch_centres(lat, lon, stage=1)
    assert lat1.shape == (8,) and lon1.shape == (15,)
    assert lat1[-1] == pytest.approx(lat_c[-1])
    assert stage_resolutions((4, 15, 30), 3) == [(4, 15, 30), (4, 8, 15), (4, 4, 8)]


@pytest.mark.parametrize("n_lat,n_lon", [(61, 120), (181, 360), (721, 1440), (32, 64)])
def test_token_resolution_matches_the_token_centres(n_lat, n_lon):
    """One resolution per stage and grid, whose rows and columns are the token centres'."""
    lat, lon = np.linspace(90, -90, n_lat), np.arange(n_lon) * 360.0 / n_lon
    for stage in range(4):
        c, h, w = token_resolution(lat, lon, 4, 4, 4, stage)
        lat_c, lon_c = patch_centres(lat, lon, 4, stage)
        assert (c, h, w) == (4, len(lat_c), len(lon_c))
    assert token_resolution(np.linspace(90, -90, 721), np.arange(1440) * 0.25, 4, 4, 3, 0) == (4, 180, 360)
    with pytest.raises(ValueError, match="stage 3 out of range"):
        token_resolution(lat, lon, 4, 4, 3, 3)
    with pytest.raises(ValueError, match="crop at most one row"):
        token_resolution(np.linspace(90, -90, 63), lon, 4, 4, 3, 0)


def test_planted_token_pattern_lands_in_its_region():
    """Tokens ordered (level, lat, lon) must reshape to (C, H, W), not (C*H, W)."""
    lat = np.linspace(90, -90, 61)
    lon = np.arange(120) * 3.0
    lat_c, lon_c = patch_centres(lat, lon)
    c, h, w, d = 4, len(lat_c), len(lon_c), 3
    us = Region("us", 24, 50, 235, 295)
    grid = np.zeros((c, h, w, d))
    grid[2][us.mask(lat_c, lon_c)] = 7.0  # plant a pattern on level 2 inside the US box
    tokens = torch.from_numpy(grid.reshape(1, c * h * w, d))  # Aurora's token order
    back = tokens_to_grid(tokens, (c, h, w))[0]
    pooled = pool_grid(back, lat_c, lon_c, {"us": us, "south": Region("south", -90, -60, 0, 360)}, area_weighted=False)
    assert pooled[0, 2, 0] == pytest.approx(np.full(d, 7.0))  # mean inside the US box on level 2
    assert np.all(pooled[0, [0, 1, 3], 0] == 0)
    assert np.all(pooled[1, :, 0] == 0)  # nothing near Antarctica (the published defect)
    with pytest.raises(ValueError, match="do not match"):
        tokens_to_grid(tokens, (c, h * 4, w))


def test_published_geometry_reproduces_the_defect():
    """The published reshape pools the US box from the wrong rows (near Antarctica)."""
    from aurora_xai.latents.geometry import published_token_grid

    lat = np.linspace(90, -90, 61)
    lon = np.arange(120) * 3.0
    lat_c, lon_c = patch_centres(lat, lon)
    us = Region("us", 24, 50, 235, 295)
    grid = np.zeros((4, len(lat_c), len(lon_c), 1))
    grid[0][us.mask(lat_c, lon_c)] = 1.0  # a signal in the US on the surface level
    grid[0, -1] = 5.0  # and one at the southernmost patch row of the surface level
    true = pool_grid(grid, lat_c, lon_c, {"us": us}, area_weighted=False)[0, 0, 0, 0]
    stacked, lat_stacked = published_token_grid(grid, lat_c)
    published = pool_grid(stacked, lat_stacked, lon_c, {"us": us}, area_weighted=False)[0, 0, 0, 0]
    assert true == pytest.approx(1.0)
    assert published != pytest.approx(1.0)
    rows = np.flatnonzero(us.lat_mask(lat_stacked))
    assert len(lat_c) - 1 in rows  # the southernmost surface row is inside the "US" box
