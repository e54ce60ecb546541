"""Geometry of the attribution targets: token centres, region masks, planted patterns."""

from __future__ import annotations

import aurora
import numpy as np
import pytest
import torch

from aurora_xai.attribution._testing import synthetic_batch
from aurora_xai.attribution.inputs import (
    evaluate_target,
    normalised_inputs,
    target_context,
)
from aurora_xai.attribution.targets import ForecastTarget, LatentTarget
from aurora_xai.latents.geometry import latent_token_mask, patch_centres
from aurora_xai.model import ModelSpec, build_model
from aurora_xai.regions import GLOBE, Region

torch.set_num_threads(1)

LAT33 = np.linspace(90, -90, 33)
LON64 = np.arange(64) * 5.625


def test_token_centres_base_patches():
    lat_c, lon_c = patch_centres(LAT33, LON64, patch_size=4)
    assert lat_c.shape == (8,) and lon_c.shape == (16,)
    # The 33rd row (-90) is cropped: the last patch covers rows 28..31.
    assert lat_c[0] == pytest.approx(np.mean([90, 84.375, 78.75, 73.125]))
    assert lat_c[-1] == pytest.approx(LAT33[28:32].mean())
    assert lon_c[0] == pytest.approx(np.mean([0, 5.625, 11.25, 16.875]))
    assert lon_c[-1] == pytest.approx(LON64[60:64].mean())


def test_token_centres_stages_with_padding():
    lat = np.linspace(90, -90, 17)  # 16 rows kept -> 4 patch rows
    lon = np.arange(40) * 9.0  # 10 patch columns: odd after one halving
    for stage, shape in enumerate([(4, 10), (2, 5), (1, 3)]):
        lat_c, lon_c = patch_centres(lat, lon, 4, stage)
        assert (lat_c.size, lon_c.size) == shape
    lat_c, lon_c = patch_centres(lat, lon, 4, 2)
    assert lat_c[0] == pytest.approx(lat[:16].mean())
    # Last stage-2 column covers patches 8, 9 (and Aurora's padding): grid columns 32..39.
    assert lon_c[-1] == pytest.approx(lon[32:40].mean())
    assert lon_c[0] == pytest.approx(lon[:16].mean())


def _brute_force_mask(region, levels, lat, lon, patch=4):
    lat_kept = lat[: len(lat) - len(lat) % patch]
    out = []
    for _lev in range(levels):
        for h in range(len(lat_kept) // patch):
            for w in range(len(lon) // patch):
                la = lat_kept[h * patch : (h + 1) * patch].mean()
                lo = lon[w * patch : (w + 1) * patch].mean()
                out.append(region.contains(la, lo))
    return np.array(out)


@pytest.mark.parametrize(
    "region",
    [Region("europe", 35, 72, 348, 45), Region("tropics", -20, 20, 100, 200), GLOBE],
    ids=["across-meridian", "pacific", "globe"],
)
def test_latent_mask_matches_brute_force(region):
    mask = latent_token_mask(region, LAT33, LON64, patch_size=4, latent_levels=4)
    assert mask.shape == (4 * 8 * 16,)
    np.testing.assert_array_equal(mask, _brute_force_mask(region, 4, LAT33, LON64))


def _context():
    return {"lat": LAT33, "lon": LON64, "patch_size": 4, "latent_levels": 4, "n_stages": 3}


def test_planted_tokens_select_region_over_tokens_not_channels():
    """Each token carries its own centre (lat in channel 0, lon in channel 1, level in 2);
    the target must average whole tokens inside the box."""
    region = Region("europe", 35, 72, 348, 45)
    lat_c, lon_c = patch_centres(LAT33, LON64)
    C, H, W, D = 4, 8, 16, 6
    tokens = torch.zeros(1, C, H, W, D, dtype=torch.float64)
    tokens[..., 0] = torch.as_tensor(lat_c)[None, :, None]
    tokens[..., 1] = torch.as_tensor(np.cos(np.deg2rad(lon_c)))[None, None, :]
    tokens[..., 2] = torch.arange(C, dtype=torch.float64)[:, None, None]
    tokens[..., 3:] = 1.0
    tokens = tokens.reshape(1, C * H * W, D)
    expected_tokens = region.mask(lat_c, lon_c)  # (H, W)
    n = int(expected_tokens.sum()) * C
    assert n > 0

    for ch, value in [
        (0, C * lat_c[:, None].repeat(W, 1)[expected_tokens].sum()),
        (1, C * np.cos(np.deg2rad(lon_c))[None, :].repeat(H, 0)[expected_tokens].sum()),
        (3, n),
    ]:
        t = LatentTarget("backbone", region, channels=(ch,), reduction="sum")
        assert float(t.reduce(tokens, _context())) == pytest.approx(value)
    # Every selected token lies in the box: min/max of planted latitudes.
    mask = torch.as_tensor(latent_token_mask(region, LAT33, LON64))
    sel = tokens[0, mask]
    assert sel[:, 0].min() >= 35 and sel[:, 0].max() <= 72
    assert (sel[:, 1] >= np.cos(np.deg2rad(45)) - 1e-12).all()  # within 348..45 E
    # Mean over the surface level only = mean over all channels of selected level-0 tokens.
    t0 = LatentTarget("backbone", region, latent_levels=(0,), reduction="mean")
    sel0 = tokens.reshape(1, C, H, W, D)[0, 0][torch.as_tensor(expected_tokens)]
    assert float(t0.reduce(tokens, _context())) == pytest.approx(float(sel0.mean()))


def test_encoder_tokens_follow_aurora_order():
    """Perturbing msl in one grid cell changes exactly the surface token of its patch,
    and the region mask around that cell selects that token."""
    model = build_model(ModelSpec.from_schema(name="tiny", seed=0)).double()
    batch = synthetic_batch(33, 64, dtype=torch.float64)
    i, j = 9, 61  # row 9 -> patch row 2; column 61 -> patch column 15 (near 360 E)
    captured = []
    handle = model.encoder.register_forward_hook(lambda m, a, out: captured.append(out.detach()))
    try:
        with torch.no_grad():
            model(batch)
            batch.surf_vars["msl"][0, -1, i, j] += 500.0
            model(batch)
            batch.surf_vars["msl"][0, -1, i, j] -= 500.0
    finally:
        handle.remove()
    diff = (captured[1] - captured[0]).abs().sum(-1)[0]  # (L,)
    changed = torch.nonzero(diff > 1e-12).flatten().tolist()
    assert changed == [0 * 8 * 16 + 2 * 16 + 15]
    lat_c, lon_c = patch_centres(LAT33, LON64)
    box = Region("cell", lat_c[2] - 1, lat_c[2] + 1, lon_c[15] - 1, lon_c[15] + 1)
    mask = latent_token_mask(box, LAT33, LON64, latent_levels=4, levels=(0,))
    assert np.flatnonzero(mask).tolist() == changed


def test_latent_target_on_model_with_planted_backbone_output():
    model = build_model(ModelSpec.from_schema(name="tiny", seed=0))
    batch = synthetic_batch(17, 32, dtype=torch.float32)
    lat, lon = batch.metadata.lat.numpy(), batch.metadata.lon.numpy()
    region = Region("box", 0, 60, 300, 90)
    ctx = target_context(model, batch.metadata)
    L = 4 * 4 * 8
    planted = torch.arange(L, dtype=torch.float32)[None, :, None].repeat(1, 1, 64)
    handle = model.backbone.register_forward_hook(lambda m, a, out: planted)
    try:
        value = evaluate_target(model, batch, LatentTarget("backbone", region))
    finally:
        handle.remove()
    mask = latent_token_mask(region, lat, lon, 4, ctx["latent_levels"])
    assert float(value) == pytest.approx(np.flatnonzero(mask).mean())


def test_forecast_target_mean_over_box():
    lat = torch.linspace(90, -90, 33)[:32]
    lon = torch.arange(64) * 5.625
    field = torch.arange(32 * 64, dtype=torch.float64).reshape(1, 32, 64)
    atmos = torch.stack([field * k for k in (1.0, 2.0)], dim=1)  # (1, 2 levels, H, W)
    pred = aurora.Batch(
        surf_vars={"msl": field},
        static_vars={},
        atmos_vars={"t": atmos},
        metadata=aurora.Metadata(lat=lat, lon=lon, time=(None,), atmos_levels=(500, 850)),
    )
    region = Region("europe", 35, 72, 348, 45)
    m = region.mask(lat.numpy(), lon.numpy())
    expected = field[0].numpy()[m].mean()
    assert float(ForecastTarget("msl", None, region).reduce(pred, {})) == pytest.approx(expected)
    assert float(ForecastTarget("t", 850, region).reduce(pred, {})) == pytest.approx(2 * expected)
    w = np.cos(np.deg2rad(lat.numpy()))[:, None] * m
    expected_w = (field[0].numpy() * w).sum() / w.sum()
    t = ForecastTarget("msl", None, region, area_weighted=True)
    assert float(t.reduce(pred, {})) == pytest.approx(expected_w)
    with pytest.raises(KeyError):
        ForecastTarget("t", 300, region).reduce(pred, {})


def test_forecast_target_reads_normalised_decoder_output():
    model = build_model(ModelSpec.from_schema(name="tiny", seed=0))
    batch = synthetic_batch(17, 32, dtype=torch.float32)
    with torch.no_grad():
        pred = model(batch)
    region = Region("box", -30, 30, 90, 200)
    value = float(evaluate_target(model, batch, ForecastTarget("msl", None, region)))
    from aurora.normalisation import normalise_surf_var

    norm = normalise_surf_var(pred.surf_vars["msl"][0, 0].double(), "msl")
    m = region.mask(pred.metadata.lat.numpy(), pred.metadata.lon.numpy())
    assert value == pytest.approx(float(norm.numpy()[m].mean()), rel=1e-4, abs=1e-5)
    # The leaves of the attribution give back the batch after un-normalisation.
    inputs = normalised_inputs(model, batch, torch.float64)
    back = inputs.to_batch()
    for k in batch.surf_vars:
        torch.testing.assert_close(back.surf_vars[k], batch.surf_vars[k].double(), rtol=1e-12, atol=1e-9)
