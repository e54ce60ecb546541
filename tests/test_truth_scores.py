"""F's exact attribution in the relevance's layout, and scored against itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from aurora_xai.attribution.agreement import agreement_scores
from aurora_xai.attribution.truth_scores import aurora_name, normalisation_baseline, truth_in_relevance_layout
from aurora_xai.data.synthetic import SyntheticSpec, write_synthetic_store
from aurora_xai.model import normalisation_stats
from aurora_xai.regions import Region
from aurora_xai.truth import TruthTarget, driven_state, exact_attribution

SPEC = SyntheticSpec.from_schema(resolution=9.0, periods=(("2005-01-10", "2005-01-11"),), seed=2, compress=False)
BOX = Region("box", 20.0, 60.0, 300.0, 30.0)


@pytest.fixture(scope="module")
def truth() -> xr.Dataset:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        store = xr.open_zarr(write_synthetic_store(SPEC, f"{tmp}/s.zarr", chunk_days=1)).load()
    times = pd.DatetimeIndex(store["time"].values)
    t = times[4]
    prev, now = driven_state(store, [t - pd.Timedelta(hours=6), t])
    base = normalisation_baseline(prev.shape[-2:])
    target = TruthTarget("mean_sea_level_pressure", None, BOX)
    return exact_attribution(SPEC, prev, now, t, target, baseline=base)


def _like(truth: xr.Dataset, levels=(250.0, 500.0, 850.0)) -> xr.Dataset:
    coords = {
        "latitude": truth["latitude"].values,
        "longitude": truth["longitude"].values,
        "level": np.asarray(levels),
        "history": np.array([-6.0, 0.0]),
    }
    shape3 = (2, len(truth["latitude"]), len(truth["longitude"]))
    shape4 = (2, len(levels)) + shape3[1:]
    data = {name: (("history", "latitude", "longitude"), np.ones(shape3)) for name in ("2t", "10u", "10v", "msl")}
    data |= {
        name: (("history", "level", "latitude", "longitude"), np.ones(shape4)) for name in ("z", "u", "v", "t", "q")
    }
    data["static_lsm"] = (("latitude", "longitude"), np.ones(shape3[1:]))
    return xr.Dataset(data, coords=coords)


def test_names_and_baseline() -> None:
    assert aurora_name("mean_sea_level_pressure") == "msl" and aurora_name("geopotential") == "z"
    with pytest.raises(KeyError, match="soil_type"):
        aurora_name("soil_type")
    prev0, now0 = normalisation_baseline((3, 4))
    assert prev0.shape == (4, 3, 4)
    assert np.all(prev0[1] == normalisation_stats("msl")[0]) and np.all(now0[0] == normalisation_stats("z", 500)[0])


def test_layout_keeps_the_truth_and_zeroes_the_rest(truth: xr.Dataset) -> None:
    like = _like(truth)
    out = truth_in_relevance_layout(truth, like)
    assert set(out.data_vars) == set(like.data_vars)
    np.testing.assert_array_equal(out["msl"].values, truth["mean_sea_level_pressure"].values)
    np.testing.assert_array_equal(out["z"].sel(level=500.0).values, truth["geopotential"].sel(level=500).values)
    assert float(abs(out["z"].sel(level=[250.0, 850.0])).sum()) == 0.0
    assert float(abs(out["q"]).sum()) == 0.0 and float(abs(out["static_lsm"]).sum()) == 0.0
    # completeness survives the change of layout: every driven field F reads is kept
    # (the relevance holds z, msl, t and 10u at the driven levels)
    total = sum(float(out[v].sum()) for v in out.data_vars)
    assert total == pytest.approx(truth.attrs["value"] - truth.attrs["baseline_value"], rel=1e-9)
    scores = agreement_scores(out, out)
    assert scores["spearman"] == pytest.approx(1.0) and scores["support_share"] == pytest.approx(1.0)
    assert 0.0 < scores["reference_history_share"] < 1.0


def test_a_different_grid_is_refused(truth: xr.Dataset) -> None:
    like = _like(truth).isel(latitude=slice(0, -1))
    with pytest.raises(ValueError, match="latitude"):
        truth_in_relevance_layout(truth, like)


class _Persistence(torch.nn.Module):
    """Forecasts msl(t + 6 h) = msl(t): a pure identity path (normalised units)."""

    patch_size = 4

    def forward(self, batch):
        import aurora

        b = batch.normalise(surf_stats={})
        return aurora.Batch(
            surf_vars={"msl": b.surf_vars["msl"][:, -1:] * 1.0},
            static_vars={},
            atmos_vars={},
            metadata=b.metadata,
        )


def test_identity_part_is_the_relevance_of_persistence() -> None:
    from aurora_xai.attribution._testing import synthetic_batch
    from aurora_xai.attribution.methods import compute_relevance
    from aurora_xai.attribution.targets import ForecastTarget
    from aurora_xai.attribution.truth_scores import identity_part
    from aurora_xai.attribution.validation import _unit_batch

    batch = synthetic_batch(nlat=17, nlon=32, dtype=torch.float64)
    target = ForecastTarget("msl", None, Region("b", -20.0, 20.0, 40.0, 100.0))
    model = _Persistence().double()
    ixg = compute_relevance(model, batch, target, method="input_x_gradient", dtype=torch.float64)
    ident = identity_part(ixg, batch, target)
    for name in ixg.data_vars:
        np.testing.assert_allclose(ixg[name].values, ident[name].values, rtol=1e-6, atol=1e-12)
    assert float(ident["msl"].sum()) == pytest.approx(ixg.attrs["target_value"], rel=1e-6)
    grad = compute_relevance(model, batch, target, method="saliency", dtype=torch.float64)
    weights = identity_part(grad, _unit_batch(batch, target, None), target)
    np.testing.assert_allclose(grad["msl"].values, weights["msl"].values, rtol=1e-6, atol=1e-12)
    assert float(weights["msl"].sum()) == pytest.approx(1.0)
