"""Scale: the model rules at an intermediate grid with the study's architecture, memory-sized
perturbation batches, the synthetic generator's memory at 0.25 deg, and the rehearsal preset."""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from presets import flatten, preset

from aurora_xai.attribution._testing import synthetic_batch
from aurora_xai.attribution.methods import compute_relevance
from aurora_xai.attribution.targets import LatentTarget
from aurora_xai.data.era5 import open_source
from aurora_xai.data.synthetic import SyntheticSpec, step_bytes, synthetic_dataset, write_synthetic_store
from aurora_xai.latents.extract import extract_pooled
from aurora_xai.memory import available_bytes, peak_bytes
from aurora_xai.model import ModelSpec, build_model
from aurora_xai.perturbation.apply import normalisation_fill
from aurora_xai.perturbation.experiment import run_experiment
from aurora_xai.perturbation.forward import auto_batch_size, copy_input_bytes, masked_fields
from aurora_xai.perturbation.masks import random_scattered_masks, rng_for, sector_cells
from aurora_xai.perturbation.relevance import masking_maps
from aurora_xai.perturbation.settings import Case, PerturbationSettings
from aurora_xai.regions import Region
from aurora_xai.sections import section_defaults
from aurora_xai.settings import load_config


def _perturbation(seed: int = 0, **values) -> PerturbationSettings:
    """The ``perturbation`` section at the schema's defaults, with ``values`` replaced."""
    return dataclasses.replace(PerturbationSettings.from_config(section_defaults("perturbation"), seed), **values)


REPO = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)

EUROPE = Region("europe", 30.0, 72.0, 348.0, 45.0)
US = Region("us", 24.0, 50.0, 235.0, 295.0)


# --------------------------------------------------------------------------------------
# The study's architecture at 1 deg: extraction, one LRP pass, one masked batch.
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store_1deg(tmp_path_factory) -> Path:
    """Two time steps (00 and 06 UTC) of the synthetic store at 1 deg (181 x 360)."""
    spec = SyntheticSpec.from_schema(resolution=1.0, periods=(("2005-01-14", "2005-01-14"),), extra_variables=False)
    ds = synthetic_dataset(spec, pd.DatetimeIndex(["2005-01-14T00", "2005-01-14T06"]))
    path = tmp_path_factory.mktemp("scale") / "era5_1deg.zarr"
    ds.to_zarr(path, zarr_format=2, consolidated=True)
    return path


@pytest.fixture(scope="module")
def small_arch() -> torch.nn.Module:
    """AuroraSmallPretrained's architecture with its random initialisation."""
    return build_model(ModelSpec.from_schema(name="small-pretrained", random_weights=True))


@pytest.mark.scale
def test_study_architecture_at_1deg(store_1deg, small_arch):
    """Extraction, LRP with checkpointing and a masked batch of the 113M-parameter
    architecture on a 181 x 360 grid: shapes, finite values, relevance bookkeeping."""
    model = small_arch
    source = open_source("synthetic", str(store_1deg))
    t = pd.Timestamp("2005-01-14T06")

    pooled = extract_pooled(source, model, [t], "backbone", {"us": US, "europe": EUROPE}, device="cpu")
    arr = pooled["pooled"]
    # backbone output: 4 latent levels, 2 x 256 channels (the U-Net skip), 3 statistics
    assert arr.sizes == {"date": 1, "region": 2, "latent_level": 4, "stat": 3, "channel": 512}
    assert np.isfinite(arr.values).all() and float(np.abs(arr.values).max()) > 0

    batch = source.batch(t)
    rel = compute_relevance(model, batch, LatentTarget("backbone", EUROPE), method="lrp", checkpointing=True)
    assert rel["msl"].shape == (2, 181, 360)
    assert rel["t"].shape == (2, 13, 181, 360)
    for name in rel.data_vars:
        assert np.isfinite(rel[name].values).all(), name
    total = sum(float(rel[name].sum()) for name in rel.data_vars)
    assert total == pytest.approx(rel.attrs["relevance_sum"], rel=1e-3, abs=1e-6)
    assert abs(rel.attrs["target_value"]) > 0
    assert rel.attrs["closure_error"] < 1e-3  # relevance plus absorbed shares close the target
    assert rel.attrs["checkpointing"] not in ("none", False, "False")

    lat, lon = batch.metadata.lat.numpy(), batch.metadata.lon.numpy()
    sector = sector_cells(Region("north_atlantic", 20.0, 80.0, 300.0, 45.0), lat, lon)
    masks = random_scattered_masks(sector, 500, 1, rng_for(0, "scale"))
    masks = np.concatenate([masks, np.zeros_like(masks)])  # a masked copy and the clean one
    fill = normalisation_fill(batch, model.surf_stats)
    fields = masked_fields(model, batch, fill, masks, "msl", batch_size=2)
    assert fields.shape == (2, 180, 360)  # the south pole row is cropped
    assert torch.isfinite(fields).all()
    assert (fields[0] - fields[1]).abs().amax() > 0  # the mask changes the forecast


# --------------------------------------------------------------------------------------
# perturbation.batch_size: auto
# --------------------------------------------------------------------------------------


@pytest.mark.scale
def test_random_weights_give_a_backbone_that_acts(small_arch):
    """Aurora zeroes the adaptive layer norms' modulation at initialisation (each Swin block
    the identity); random_weights draws it, so the backbone's taps differ from the encoder's,
    stay finite, and the same seed builds the same model."""
    from aurora_xai.latents.taps import record_taps

    batch = synthetic_batch(65, 128, seed=0, dtype=torch.float32)
    with record_taps(small_arch, ["encoder", "backbone.encoder.0"]) as rec, torch.inference_mode():
        tokens = rec(batch)
    enc, stage0 = tokens["encoder"], tokens["backbone.encoder.0"]
    assert torch.isfinite(stage0).all() and (stage0 - enc).abs().max() > 0.1 * enc.abs().max()
    again = build_model(ModelSpec.from_schema(name="small-pretrained", random_weights=True))
    for (name, a), (_, b) in zip(small_arch.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name


def test_auto_batch_size_arithmetic():
    gb = 10**9
    assert auto_batch_size(gb, 10 * gb, 100, "cpu") == 5  # half of the free memory on a CPU
    assert auto_batch_size(gb, 10 * gb, 100, "cuda") == 8  # 80 % on a GPU
    assert auto_batch_size(gb, 10 * gb, 3, "cpu") == 3  # never more than run together
    assert auto_batch_size(4 * gb, 2 * gb, 100, "cpu") == 1  # at least one, even when short
    assert auto_batch_size(gb, 10 * gb, 100, margin=0.25) == 2
    with pytest.raises(ValueError, match="max_size"):
        auto_batch_size(gb, gb, 0)
    with pytest.raises(ValueError, match="margin"):
        auto_batch_size(gb, gb, 4, margin=1.5)


def test_peak_and_available_memory_on_the_cpu():
    n = 50_000_000  # 200 MB of float32

    def work() -> float:
        x = torch.ones(n)
        return float(x.sum())

    out, peak = peak_bytes(work, "cpu")
    assert out == n
    assert 0.6 * 4 * n < peak < 4 * 4 * n
    assert available_bytes("cpu") > 0


def test_auto_batch_size_gives_the_results_of_one_at_a_time(caplog):
    model = build_model(ModelSpec.from_schema(name="tiny", seed=0))
    batch = synthetic_batch(17, 32, seed=1, dtype=torch.float32)
    lat, lon = batch.metadata.lat.numpy(), batch.metadata.lon.numpy()
    region = Region("s", -40.0, 60.0, 300.0, 90.0)
    case = Case("toy", pd.Timestamp("2020-01-01 12:00"), "msl", None, region, region, region)
    base = dict(fractions=(5.0,), n_draws=6, seed=0, methods=("random",), random_kinds=("scattered", "blobs"))
    one = _perturbation(**base, batch_size=1, n_boot=200)
    auto = _perturbation(**base, batch_size="auto", n_boot=200)
    maps = masking_maps({"random": None}, (len(lat), len(lon)), one)
    fill = normalisation_fill(batch, model.surf_stats)
    ref = run_experiment(model, batch, maps, case, one, fill)
    with caplog.at_level(logging.INFO, logger="aurora_xai.perturbation.experiment"):
        got = run_experiment(model, batch, maps, case, auto, fill)
    chosen = [int(m.group(1)) for m in re.finditer(r": (\d+) masked copies per forward pass", caplog.text)]
    assert len(chosen) == 1 and 1 <= chosen[0] <= 7  # n_draws + the top mask
    pd.testing.assert_frame_equal(got.table, ref.table, check_exact=False, rtol=1e-4)
    with pytest.raises(ValueError, match="batch_size"):
        _perturbation(**base, batch_size="many")
    assert copy_input_bytes(batch) == sum(
        v.numel() * 4 for v in [*batch.surf_vars.values(), *batch.atmos_vars.values()]
    )


def test_batch_size_auto_is_a_valid_setting():
    cfg = load_config(REPO / "config" / "config.yaml", {"perturbation": {"batch_size": "auto"}})
    assert cfg["perturbation"]["batch_size"] == "auto"
    with pytest.raises(Exception, match="batch_size"):
        load_config(REPO / "config" / "config.yaml", {"perturbation": {"batch_size": "most"}})
    with pytest.raises(Exception, match="batch_size"):
        load_config(REPO / "config" / "config.yaml", {"perturbation": {"batch_size": 0}})


# --------------------------------------------------------------------------------------
# The synthetic generator at 0.25 deg, and the rehearsal preset.
# --------------------------------------------------------------------------------------


def test_synthetic_store_is_written_in_memory_bounded_blocks(tmp_path):
    """Blocks of one time (what 0.25 deg gets) write the same store as one block."""
    quarter = SyntheticSpec.from_schema(resolution=0.25, periods=(("2005-01-01", "2005-01-01"),))
    assert 1.5e9 < step_bytes(quarter) < 2.5e9  # one 721 x 1440 time; 1.7 GB peak RSS measured
    assert 2 * 2**30 // step_bytes(quarter) == 1
    spec = SyntheticSpec.from_schema(
        resolution=3.0, periods=(("2005-01-01", "2005-01-02"), ("1987-10-16", "1987-10-16"))
    )
    whole = write_synthetic_store(spec, tmp_path / "whole.zarr")
    steps = write_synthetic_store(spec, tmp_path / "steps.zarr", max_block_bytes=step_bytes(spec))
    with xr.open_zarr(whole) as a, xr.open_zarr(steps) as b:
        assert a.sizes["time"] == 12
        xr.testing.assert_identical(a.load(), b.load())
    with pytest.raises(ValueError, match="max_block_bytes"):
        write_synthetic_store(spec, tmp_path / "bad.zarr", max_block_bytes=0)


def test_rehearsal_is_the_study_at_true_resolution():
    """config/rehearsal.yaml differs from config/study.yaml only where it says it does
    (both merged over config/config.yaml, as ``--configfile`` merges them)."""
    study = flatten(preset("study"))
    rehearsal = flatten(preset("rehearsal"))
    changed = {k for k in study.keys() | rehearsal.keys() if study.get(k, "absent") != rehearsal.get(k, "absent")}
    allowed = {"data.source", "data.path", "data.on_missing", "dates.step_days", "model.random_weights"}
    allowed |= {"labels.n_days", "regimes.cv_folds", "perturbation.batch_size", "validation.enabled"}
    allowed |= {f"interventions.{k}" for k in ("alphas", "n_random", "dates_per_class", "batch_size")}
    allowed |= {"features.taps", "features.steering.enabled"}
    assert {k for k in changed if not k.startswith("synthetic.")} <= allowed
    assert rehearsal["synthetic.resolution"] == 0.25 and rehearsal["model.name"] == "small-pretrained"
    settings_cfg = preset("rehearsal")
    from aurora_xai.config import check_config  # the synthetic store covers every needed time

    check_config(settings_cfg)


def test_perturbation_relevance_honours_checkpointing():
    """The relevance the perturbation job computes itself can be checkpointed (what makes
    LRP fit at 0.25 deg), with the same relevance."""
    from aurora_xai.perturbation.relevance import compute_relevances

    model = build_model(ModelSpec.from_schema(name="tiny", seed=0))
    batch = synthetic_batch(33, 64, seed=2, dtype=torch.float32)
    target = LatentTarget("backbone", EUROPE)
    kw = dict(attention_rule="cp", epsilon=1e-6, ig_steps=4)
    plain = compute_relevances(model, batch, target, ["lrp"], **kw)["lrp"]
    ckpt = compute_relevances(model, batch, target, ["lrp"], **kw, checkpointing=True)["lrp"]
    assert plain.attrs["checkpointing"] == "none" and ckpt.attrs["checkpointing"] != "none"
    xr.testing.assert_allclose(ckpt, plain, rtol=1e-5, atol=1e-9)
