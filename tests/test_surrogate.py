"""The surrogate: its residual architecture, deterministic and resumable training, its
checkpoint loaded as ``model.name: surrogate``, the skill table and the period checks."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from aurora_xai.config import ConfigError, check_config
from aurora_xai.data.era5 import open_source
from aurora_xai.data.synthetic import SyntheticSpec, write_synthetic_store
from aurora_xai.model import SURROGATE_CHECKPOINT, ModelSpec, build_model, checkpoint_id, random_control
from aurora_xai.sections import section_defaults
from aurora_xai.settings import Settings, load_config
from aurora_xai.surrogate.architecture import ResidualAurora, ResidualPerceiver3DDecoder
from aurora_xai.surrogate.samples import read_samples, shuffled_target_times, training_times
from aurora_xai.surrogate.settings import SurrogateSettings
from aurora_xai.surrogate.skill import (
    PLANTED_FIELDS,
    SKILL_COLUMNS,
    headline,
    heldout_times,
    planted_forecasts,
    plot_skill,
    skill_table,
)
from aurora_xai.surrogate.train import save_checkpoint, train_surrogate

LEVELS = (250, 500, 850)
STEP = pd.Timedelta(hours=6)


#: A 9-degree store: a training period and a few held-out days.
SPEC = SyntheticSpec.from_schema(
    resolution=9.0, periods=(("2004-11-01", "2004-11-03"), ("2005-01-01", "2005-01-02")), extra_variables=False
)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """The store of :data:`SPEC` (WeatherBench 2 schema)."""
    path = tmp_path_factory.mktemp("surrogate") / "era5.zarr"
    write_synthetic_store(SPEC, path)
    return str(path)


def _source(store: str, source: str = "synthetic"):
    return open_source(source, store, levels=LEVELS, history=STEP)


def _settings(**changes) -> SurrogateSettings:
    sec = {**section_defaults("surrogate"), "train_period": ["2004-11-01", "2004-11-03"], "steps": 4}
    sec.update(batch_size=2, checkpoint_every=2, warmup_steps=1, learning_rate=1e-3)
    sec.update(changes)
    return SurrogateSettings.from_config(sec)


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_residual_decoder_forecasts_persistence_when_its_heads_are_zero(store):
    model = build_model(ModelSpec.from_schema(name="surrogate", random_weights=True))
    assert isinstance(model, ResidualAurora) and type(model.decoder) is ResidualPerceiver3DDecoder
    with torch.no_grad():
        for name, p in model.decoder.named_parameters():
            if name.startswith(("surf_heads", "atmos_heads")):
                p.zero_()
    batch = _source(store).batch(pd.Timestamp("2004-11-02T06"))
    with torch.no_grad():
        pred = model(batch)
    h = pred.metadata.lat.shape[0]
    for k, v in pred.surf_vars.items():
        np.testing.assert_allclose(v[0, 0].numpy(), batch.surf_vars[k][0, -1, :h].numpy(), rtol=1e-5, atol=1e-3)
    for k, v in pred.atmos_vars.items():
        np.testing.assert_allclose(v[0, 0].numpy(), batch.atmos_vars[k][0, -1, :, :h].numpy(), rtol=1e-5, atol=1e-3)


def test_training_is_deterministic(store, tmp_path):
    a = train_surrogate(_source(store), _settings(steps=3), tmp_path / "a.pt")
    b = train_surrogate(_source(store), _settings(steps=3), tmp_path / "b.pt")
    assert _same(_weights(a.model), _weights(b.model))
    assert a.losses.loss.tolist() == b.losses.loss.tolist()
    assert list(a.losses.columns) == ["step", "loss", "lr"] and a.steps_done == 3


def test_shuffled_training_reads_other_times_targets_deterministically(store, tmp_path):
    """The data-randomisation control: the inputs of each time, another time's target;
    deterministic, different from the real training, and never resumed from its state."""
    source = _source(store)
    times = training_times(source, _settings(), STEP)
    paired = shuffled_target_times(times, 0)
    sample = read_samples(source, times[:3], STEP, paired[:3])
    own = read_samples(source, paired[:3], STEP)
    assert torch.equal(sample.target.surf_vars["msl"], own.target.surf_vars["msl"])
    assert torch.equal(sample.inputs.surf_vars["msl"], read_samples(source, times[:3], STEP).inputs.surf_vars["msl"])
    with pytest.raises(ValueError, match="target times"):
        read_samples(source, times[:3], STEP, paired[:2])
    state = tmp_path / "state.pt"
    real = train_surrogate(source, _settings(steps=2), state)
    a = train_surrogate(source, _settings(steps=2), state, shuffle_seed=0)
    assert a.resumed_from == 0  # the real run's state is of other samples
    b = train_surrogate(source, _settings(steps=2), tmp_path / "b.pt", shuffle_seed=0)
    assert _same(_weights(a.model), _weights(b.model))
    assert not _same(_weights(a.model), _weights(real.model))


def test_the_same_weights_give_the_same_checkpoint_file(store, tmp_path):
    """The checkpoint's id (its sha256) is in every output's provenance: the same weights
    must give the same bytes whatever the atomic write's temporary name."""
    result = train_surrogate(_source(store), _settings(steps=1), tmp_path / "state.pt")
    save_checkpoint(result.model, tmp_path / "one.pt")
    save_checkpoint(result.model, tmp_path / "two.pt")
    assert (tmp_path / "one.pt").read_bytes() == (tmp_path / "two.pt").read_bytes()


def test_resume_ends_with_the_weights_of_an_uninterrupted_run(store, tmp_path):
    whole = train_surrogate(_source(store), _settings(), tmp_path / "whole.pt")
    state = tmp_path / "resumed.pt"
    stopped = train_surrogate(_source(store), _settings(), state, stop_after=2)  # as if killed after step 2
    assert stopped.steps_done == 2 and state.is_file()
    resumed = train_surrogate(_source(store), _settings(), state)
    assert resumed.resumed_from == 2
    assert _same(_weights(whole.model), _weights(resumed.model))
    assert whole.losses.loss.tolist() == resumed.losses.loss.tolist()
    # a state of other settings is not resumed
    other = train_surrogate(_source(store), _settings(seed=1, steps=1), state)
    assert other.resumed_from == 0


def test_checkpoint_loads_through_build_model_as_the_surrogate(store, tmp_path):
    result = train_surrogate(_source(store), _settings(steps=1), tmp_path / "state.pt")
    path = tmp_path / "surrogate.pt"
    save_checkpoint(result.model, path)
    spec = ModelSpec.from_schema(name="surrogate", checkpoint=str(path))
    loaded = build_model(spec)
    assert isinstance(loaded, ResidualAurora)
    assert _same(_weights(result.model), _weights(loaded))
    assert checkpoint_id(spec).startswith("file:surrogate.pt:sha256:")
    batch = _source(store).batch(pd.Timestamp("2005-01-01T12"))
    with torch.no_grad():
        assert torch.equal(result.model(batch).surf_vars["msl"], loaded(batch).surf_vars["msl"])


def test_surrogate_spec_reads_the_trained_file_and_its_control_stays_random():
    spec = ModelSpec.from_schema(name="surrogate")
    assert spec.checkpoint == SURROGATE_CHECKPOINT
    control = random_control(spec, 1000)
    assert control.name == "surrogate" and control.random_weights and not control.checkpoint
    assert checkpoint_id(control) == "surrogate-random-weights-seed1000"
    with pytest.raises(FileNotFoundError, match="train_surrogate"):
        build_model(dataclasses.replace(spec, checkpoint="nowhere/surrogate.pt"))
    with pytest.raises(ValueError, match="model.checkpoint"):
        build_model(dataclasses.replace(spec, checkpoint=""))


def test_skill_table_columns_and_headline(store, tmp_path):
    model = build_model(ModelSpec.from_schema(name="surrogate", random_weights=True))
    source = _source(store)
    times = heldout_times(source, pd.date_range("2005-01-01T06", "2005-01-03T06", freq="1D"), STEP, 8)
    assert list(times) == [pd.Timestamp("2005-01-01T06"), pd.Timestamp("2005-01-02T06")]  # not 3 January
    table = skill_table(model, source, times, STEP, planted=planted_forecasts(SPEC))
    assert list(table.columns) == list(SKILL_COLUMNS)
    assert len(table) == 4 + 5 * len(LEVELS)
    assert set(table.units[table.variable == "msl"]) == {"Pa"}
    # F's columns: exactly the fields F drives; F itself explains most of their change
    driven = table[table.rmse_vs_planted.notna()]
    assert {(v, None if np.isnan(lv) else lv) for v, lv in zip(driven.variable, driven.level)} == set(PLANTED_FIELDS)
    assert (driven.explained_variance_planted > 0.5).all() and (driven.explained_variance_planted < 1).all()
    assert table.explained_variance_planted.notna().sum() == len(PLANTED_FIELDS)
    plot_skill(table)
    rows = headline(table, len(times))
    assert sorted(rows.metric) == sorted(
        f"surrogate_skill_{v}" for v in ("2t", "10u", "10v", "msl", "z", "u", "v", "t", "q")
    )
    assert set(rows.n_unit) == {"held-out times"}


def test_trains_on_a_weatherbench2_store_with_its_own_levels(store, tmp_path):
    source = _source(store, "weatherbench2")
    result = train_surrogate(source, _settings(steps=2), tmp_path / "state.pt")
    assert result.steps_done == 2 and np.isfinite(result.losses.loss).all()
    sample = read_samples(source, training_times(source, _settings(), STEP)[:1], STEP)
    assert sample.inputs.metadata.atmos_levels == LEVELS


def test_a_period_outside_the_store_is_refused_naming_the_key(store):
    with pytest.raises(ValueError, match=r"surrogate\.train_period.*not in the store"):
        training_times(_source(store), _settings(train_period=["2003-01-01", "2003-01-05"]), STEP)


def test_config_check_refuses_a_period_overlapping_the_study_or_outside_the_synthetic_store(repo):
    cfg = load_config(repo / "config" / "config.yaml")
    check_config(Settings(cfg))  # the embedded default passes
    overlap = copy.deepcopy(cfg)
    overlap["surrogate"]["train_period"] = ["2004-12-20", "2005-01-05"]
    with pytest.raises(ConfigError, match=r"'surrogate\.train_period'.*overlaps the study"):
        check_config(Settings(overlap))
    case = copy.deepcopy(cfg)
    case["surrogate"]["train_period"] = ["1987-10-12", "1987-10-20"]  # the Great Storm's period
    with pytest.raises(ConfigError, match=r"'surrogate\.train_period'.*overlaps the study"):
        check_config(Settings(case))
    outside = copy.deepcopy(cfg)
    outside["surrogate"]["train_period"] = ["2003-01-01", "2003-01-31"]
    with pytest.raises(ConfigError, match=r"'surrogate\.train_period'.*synthetic\.periods"):
        check_config(Settings(outside))


def test_the_residual_knows_era5_levels_only():
    from aurora_xai.surrogate.architecture import PRESSURE_LEVELS, level_index

    assert level_index([50, 500, 1000]).tolist() == [PRESSURE_LEVELS.index(v) for v in (50, 500, 1000)]
    with pytest.raises(ValueError, match="data.levels"):
        level_index([500, 512])
