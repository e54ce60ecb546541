"""Selecting a field from a batch; device, dtype and forecast step beside the model."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from aurora_xai.attribution._testing import synthetic_batch
from aurora_xai.data.batch import select_field
from aurora_xai.model import ModelSpec, build_model, forecast_step, model_dtype, resolve_device

ROOT = Path(__file__).resolve().parents[1]
LEVELS = (850, 100, 500, 250)  # deliberately unsorted: the batch's order counts, not the value's


@pytest.fixture(scope="module")
def batch():
    return synthetic_batch(9, 16, levels=LEVELS, seed=2)


def test_surface_field_is_the_last_history_step_by_default(batch):
    msl = batch.surf_vars["msl"]  # (1, 2, 9, 16)
    assert torch.equal(select_field(batch, "msl"), msl[:, 1])
    assert torch.equal(select_field(batch, "msl", history=0), msl[:, 0])
    assert not torch.equal(select_field(batch, "msl", history=0), select_field(batch, "msl"))
    assert select_field(batch, "msl").data_ptr() == msl[:, 1].data_ptr()  # a view, not a copy


def test_atmospheric_field_is_looked_up_by_level_value_not_position(batch):
    t = batch.atmos_vars["t"]  # (1, 2, 4, 9, 16), levels in the order of LEVELS
    assert torch.equal(select_field(batch, "t", 500), t[:, 1, 2])
    assert torch.equal(select_field(batch, "t", 500.0, history=0), t[:, 0, 2])
    assert torch.equal(select_field(batch, "t", 850), t[:, 1, 0])
    for level in LEVELS:  # each level picks a different slice
        others = [lv for lv in LEVELS if lv != level]
        assert all(not torch.equal(select_field(batch, "t", level), select_field(batch, "t", o)) for o in others)


def test_prediction_without_history_axis_is_read_as_it_is(batch):
    import dataclasses

    flat = dataclasses.replace(
        batch,
        surf_vars={k: v[:, -1] for k, v in batch.surf_vars.items()},
        atmos_vars={k: v[:, -1] for k, v in batch.atmos_vars.items()},
    )
    assert torch.equal(select_field(flat, "2t"), select_field(batch, "2t"))
    assert torch.equal(select_field(flat, "q", 250), select_field(batch, "q", 250))


def test_unknown_variable_or_level_names_what_the_batch_has(batch):
    with pytest.raises(KeyError, match=r"no surface variable 't'.*'msl'"):
        select_field(batch, "t")
    with pytest.raises(KeyError, match=r"no atmospheric variable 'msl'.*'z'"):
        select_field(batch, "msl", 500)
    with pytest.raises(KeyError, match=r"level 700 hPa of 'z' not in the batch.*850\.0"):
        select_field(batch, "z", 700)


def test_forecast_target_reads_the_same_field(batch):
    from aurora_xai.attribution.targets import ForecastTarget
    from aurora_xai.regions import GLOBE

    value = ForecastTarget("u", 250, GLOBE).reduce(batch, {})
    assert value.item() == pytest.approx(select_field(batch, "u", 250).mean().item(), rel=1e-12)
    with pytest.raises(KeyError, match="ForecastTarget: level 700 hPa"):
        ForecastTarget("u", 700, GLOBE).reduce(batch, {})


def test_model_dtype_and_forecast_step():
    model = build_model(ModelSpec.from_schema(name="tiny", seed=0))
    assert model_dtype(model) == torch.float32
    assert model_dtype(model.to(torch.float64)) == torch.float64
    assert model_dtype(nn.ReLU()) == torch.get_default_dtype()  # no parameters
    assert forecast_step(model) == datetime.timedelta(hours=6) == model.timestep
    stepped = nn.Linear(1, 1)
    stepped.timestep = datetime.timedelta(hours=12)
    assert forecast_step(stepped) == datetime.timedelta(hours=12)
    assert forecast_step(nn.Linear(1, 1)) == datetime.timedelta(hours=6)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(RuntimeError):
        resolve_device("gpu")


def test_model_spec_and_batch_fields_import_without_torch():
    code = "import sys; sys.modules['torch'] = None; import aurora_xai.model, aurora_xai.data.batch"
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
