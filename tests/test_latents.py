"""The latents package: one tap vocabulary, token-row latitude edges, area-weighted pooling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from aurora_xai.attribution._testing import synthetic_batch
from aurora_xai.attribution.inputs import evaluate_target
from aurora_xai.attribution.targets import LatentTarget
from aurora_xai.grid import band_weights, lat_cell_edges, lat_weights
from aurora_xai.latents.geometry import patch_centres, patch_lat_edges, stage_resolutions
from aurora_xai.latents.io import pooled_files, pooled_path
from aurora_xai.latents.pooling import pool_grid, region_weights
from aurora_xai.latents.taps import TAPS, capture_latents, known_taps, parse_tap, tap_names
from aurora_xai.model import ModelSpec, build_model
from aurora_xai.regions import GLOBE, Region

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]


# --- the tap vocabulary -------------------------------------------------------------------
def test_one_tap_vocabulary_in_the_schema():
    """Every tap key of the schema takes the vocabulary of aurora_xai.latents.taps, and the
    schema writes it out once (a YAML anchor, aliased by the other keys)."""
    text = (REPO / "workflow/schemas/config.schema.yaml").read_text()
    schema = yaml.safe_load(text)["properties"]
    assert tuple(schema["latents"]["properties"]["tap"]["enum"]) == TAPS == known_taps()
    assert tuple(schema["latents"]["properties"]["taps"]["items"]["enum"]) == TAPS
    assert tuple(schema["attribution"]["properties"]["latent_layer"]["enum"]) == TAPS
    assert tuple(schema["perturbation"]["properties"]["latent_layer"]["enum"]) == TAPS
    assert [tuple(s["enum"]) for s in schema["interventions"]["properties"]["tap"]["oneOf"]] == [("",), TAPS]
    assert text.count("backbone.encoder.0") == 1
    assert TAPS == (
        "encoder",
        "backbone.encoder.0",
        "backbone.encoder.1",
        "backbone.encoder.2",
        "bottleneck",
        "backbone",
    )


def test_unknown_taps_are_refused_naming_the_known_ones():
    for bad in ("backbone.encoder_layers.1", "backbone.decoder_layers.0", "decoder", "backbone.encoder.3"):
        with pytest.raises(
            ValueError, match=r"LatentTarget.layer: unknown tap .*known taps: encoder, backbone.encoder.0"
        ):
            LatentTarget(bad, GLOBE)
        with pytest.raises(ValueError, match="latents.tap: unknown tap"):
            parse_tap(bad)
    assert [parse_tap(t) for t in TAPS] == [0, 0, 1, 2, 2, 0]


@pytest.fixture(scope="module")
def tiny():
    model = build_model(ModelSpec.from_schema(name="tiny", seed=0))
    batch = synthetic_batch(17, 32, dtype=torch.float32)
    return model, batch


def test_extraction_and_attribution_read_the_same_tokens(tiny):
    """For every tap, the latent target over the globe is the mean of the captured tokens."""
    model, batch = tiny
    assert tap_names(model) == TAPS
    for tap in TAPS:
        with capture_latents(model, tap) as box, torch.inference_mode():
            model(batch)
        tokens = box["tokens"]
        res = stage_resolutions((4, 16 // 4, 32 // 4), 3)[parse_tap(tap)]
        assert tokens.shape[1] == np.prod(res), tap
        value = evaluate_target(model, batch, LatentTarget(tap, GLOBE))
        assert float(value.detach()) == pytest.approx(float(tokens.double().mean()), rel=1e-5), tap
    assert not model.backbone._forward_hooks and not model.encoder._forward_hooks


# --- token-row latitude edges and area weights -------------------------------------------------
def test_token_rows_span_the_grid_rows_they_cover():
    lat = np.linspace(90, -90, 61)  # 3 deg; the last row is cropped: 15 patch rows
    edges = lat_cell_edges(lat)  # 90, 88.5, ..., -88.5, -90
    e0 = patch_lat_edges(lat)
    np.testing.assert_allclose(e0, edges[0:61:4])  # 90, 84.5, ..., -88.5
    assert e0[0] == 90 and e0[-1] == pytest.approx(-88.5)
    # stage 1 pads 15 patch rows to 16: the last token row covers one patch (4 rows)
    e1 = patch_lat_edges(lat, stage=1)
    assert len(e1) == 9 and e1[-2] == pytest.approx(edges[56]) and e1[-1] == pytest.approx(edges[60])
    # stage 2: 4 token rows of 4, 4, 4 and 3 patches
    e2 = patch_lat_edges(lat, stage=2)
    np.testing.assert_allclose(e2, edges[[0, 16, 32, 48, 60]])
    # the area of a token row is the sum of the areas of its grid rows
    cells = band_weights(edges[:61])
    rows = band_weights(e2)
    sums = np.array([cells[0:16].sum(), cells[16:32].sum(), cells[32:48].sum(), cells[48:60].sum()])
    np.testing.assert_allclose(rows / rows.sum(), sums / sums.sum(), rtol=1e-12)
    # the centres of the padded last token row are those of its real grid rows
    lat_c, _ = patch_centres(lat, np.arange(120) * 3.0, stage=2)
    assert lat_c[-1] == pytest.approx(lat[48:60].mean())


def test_area_weighted_pooling_uses_the_patch_edges():
    lat = np.linspace(90, -90, 61)
    lon = np.arange(120) * 3.0
    lat_c, lon_c = patch_centres(lat, lon, stage=2)
    edges = patch_lat_edges(lat, stage=2)
    x = np.zeros((1, len(lat_c), len(lon_c), 1))
    x[0, :2] = 1.0  # ones on the first two token rows: grid rows 0..31, 90 N to 4.5 S
    out = pool_grid(x, lat_c, lon_c, {"globe": GLOBE}, area_weighted=True, lat_edges=edges)
    # exact: the area from 90 N to 4.5 S over that of the cropped globe (90 N to 88.5 S)
    expected = (1.0 + np.sin(np.deg2rad(4.5))) / (1.0 + np.sin(np.deg2rad(88.5)))
    assert out[0, 0, 0, 0] == pytest.approx(expected, rel=1e-12)
    # the default edges (halfway between the token centres) are not those of the padded row
    assert pool_grid(x, lat_c, lon_c, {"globe": GLOBE})[0, 0, 0, 0] != pytest.approx(out[0, 0, 0, 0], rel=1e-6)
    w = region_weights(Region("north", 0, 90, 0, 360), lat_c, lon_c, True, edges)
    assert w.sum() == pytest.approx(1.0) and np.all(w[2:] == 0)
    with pytest.raises(ValueError, match="latitude edges"):
        region_weights(GLOBE, lat_c, lon_c, True, edges[:-1])


def test_stage0_patch_weights_match_cell_weights_of_the_patch_centres():
    """At stage 0 on an equally spaced grid the patch edges lie halfway between patch centres."""
    lat = np.linspace(90, -90, 721)
    lat_c, _ = patch_centres(lat, np.arange(1440) * 0.25)
    np.testing.assert_allclose(band_weights(patch_lat_edges(lat)), lat_weights(lat_c), rtol=1e-12)


def test_torch_free_modules_import_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import aurora_xai.grid, aurora_xai.latents.io, aurora_xai.latents.pooling\n"
        "import aurora_xai.latents.geometry, aurora_xai.latents.taps\n"
        "try:\n    import aurora_xai.latents.extract\nexcept ImportError:\n    print('extract needs torch')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "extract needs torch"


def test_each_tap_has_one_pooled_file():
    """The analysis tap's joined latents are pooled.nc, every further tap's pooled_<tap>.nc;
    the rules and the scripts find them by the same names."""
    assert pooled_path("backbone", "backbone") == "results/latents/pooled.nc"
    assert pooled_path("encoder", "backbone") == "results/latents/pooled_encoder.nc"
    assert pooled_path("encoder", "backbone", "results/probes/random") == "results/probes/random/pooled_encoder.nc"
    files = ["x/pooled_backbone.encoder.0.nc", "x/pooled.nc", "x/pooled_encoder.nc"]
    found = pooled_files(files, "backbone", ["encoder", "backbone", "backbone.encoder.0"])
    assert list(found) == ["backbone", "encoder", "backbone.encoder.0"]
    assert found == {"backbone": files[1], "encoder": files[2], "backbone.encoder.0": files[0]}
    with pytest.raises(KeyError, match="bottleneck"):
        pooled_files(files, "backbone", ["bottleneck"])
