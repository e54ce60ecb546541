"""The planted probe quantities (aurora_xai.probes.targets): known answers on a small synthetic store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from aurora_xai.data.dynamics import DEFAULT_DYNAMICS, upstream_cells
from aurora_xai.data.era5 import ERA5Source
from aurora_xai.grid import region_cell_weights
from aurora_xai.probes.targets import PlantedContext, input_targets, probe_inputs
from aurora_xai.regions import Region
from aurora_xai.truth import background_state

BOX = Region("box", 24.0, 50.0, 235.0, 295.0)
TIME = pd.Timestamp("2005-01-05T06")


@pytest.fixture(scope="module")
def spec(repo):
    from aurora_xai.settings import Settings, load_config

    cfg = load_config(
        repo / "config" / "config.yaml",
        {"synthetic": {"periods": [["2005-01-01", "2005-01-12"], ["1987-10-14", "1987-10-17"]]}},
    )
    return Settings(cfg).synthetic


def _independent(store, spec, time):
    """The planted quantities at ``time`` straight from the store's arrays (float64)."""
    ds = xr.open_zarr(store)
    lat, lon = ds["latitude"].values, ds["longitude"].values
    b = background_state(spec, [time])[0]
    t = ds["temperature"].sel(time=time, level=850).transpose("latitude", "longitude").values.astype(np.float64)
    z = ds["geopotential"].sel(time=time, level=500).transpose("latitude", "longitude").values.astype(np.float64)
    w = region_cell_weights(BOX, lat, lon)
    dyn = DEFAULT_DYNAMICS
    tanh = float(np.sum(w * dyn.beta * np.tanh((t - b[2]) / dyn.t_scale)))
    nonlinear = tanh - float(np.sum(w * dyn.beta * (t - b[2]) / dyn.t_scale))
    upstream = np.roll(z - b[0], upstream_cells(dyn, spec.resolution), axis=-1)
    coupling = float(np.sum(w * upstream))
    return tanh, coupling, t - b[2], nonlinear


def test_planted_quantities_match_an_independent_computation(small_store, spec):
    batch = ERA5Source(str(small_store)).batch(TIME)
    names = ["planted_tanh_t850", "planted_z500_upstream", "planted_tanh_t850_nonlinear"]
    got = input_targets(batch, BOX, names, planted=PlantedContext(spec))
    tanh, coupling, anomaly, nonlinear = _independent(small_store, spec, TIME)
    assert np.abs(anomaly).max() > 0.1  # the store carries a planted anomaly to read
    np.testing.assert_allclose(got["planted_tanh_t850"], [tanh], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["planted_z500_upstream"], [coupling], rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(got["planted_tanh_t850_nonlinear"], [nonlinear], rtol=1e-4, atol=1e-6)
    assert abs(nonlinear) > 0  # the term is not its linearisation


def test_planted_quantity_is_not_the_tanh_of_the_region_mean(small_store, spec):
    """The mean of tanh differs from tanh of the mean anomaly: the term is non-linear per cell."""
    tanh, _, anomaly, _ = _independent(small_store, spec, TIME)
    ds = xr.open_zarr(small_store)
    w = region_cell_weights(BOX, ds["latitude"].values, ds["longitude"].values)
    of_mean = DEFAULT_DYNAMICS.beta * np.tanh(np.sum(w * anomaly) / DEFAULT_DYNAMICS.t_scale)
    assert abs(of_mean - tanh) > 1e-4


def test_history_step_reads_its_own_time(small_store, spec):
    batch = ERA5Source(str(small_store)).batch(TIME)
    prev = input_targets(batch, BOX, ["planted_tanh_t850"], history=0, planted=PlantedContext(spec))
    tanh, _, _, _ = _independent(small_store, spec, TIME - pd.Timedelta(hours=6))
    np.testing.assert_allclose(prev["planted_tanh_t850"], [tanh], rtol=1e-5, atol=1e-6)


def test_planted_quantity_without_planted_dynamics_names_the_key(small_store):
    batch = ERA5Source(str(small_store)).batch(TIME)
    with pytest.raises(ValueError, match="probes.quantities"):
        input_targets(batch, BOX, ["t850", "planted_tanh_t850"])
    with pytest.raises(ValueError, match="probes.quantities"):
        probe_inputs(ERA5Source(str(small_store)), [TIME], BOX, ["planted_z500_upstream"])
