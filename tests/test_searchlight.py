"""The searchlight reference: exact on a linear model, batched passes equal single ones."""

from __future__ import annotations

import aurora
import numpy as np
import pytest
import torch
from torch import nn

from aurora_xai.attribution._testing import synthetic_batch, tiny_lrp_model
from aurora_xai.attribution.agreement import agreement_scores
from aurora_xai.attribution.methods import compute_relevance
from aurora_xai.attribution.searchlight import coarsen_relevance, searchlight_reference, searchlight_size
from aurora_xai.attribution.targets import ForecastTarget, LatentTarget
from aurora_xai.regions import Region


class LinearModel(nn.Module):
    """msl(+6 h) = a * t(850 hPa, now) + b * 2t(-6 h) shifted one cell east + c * z(500 hPa) (normalised)."""

    patch_size = 4

    def forward(self, batch: aurora.Batch) -> aurora.Batch:
        b = batch.normalise(surf_stats={})
        t = b.atmos_vars["t"][:, -1, 3]
        t2 = torch.roll(b.surf_vars["2t"][:, 0], shifts=1, dims=-1)
        z = b.atmos_vars["z"][:, -1, 2]
        msl = (0.7 * t - 0.4 * t2 + 0.2 * z)[:, None]
        return aurora.Batch(
            surf_vars={"msl": msl},
            static_vars={},
            atmos_vars={},
            metadata=b.metadata,
        )


@pytest.fixture(scope="module")
def batch64() -> aurora.Batch:
    return synthetic_batch(nlat=17, nlon=32, dtype=torch.float64)


BOX = Region("box", -20.0, 20.0, 40.0, 100.0)


@pytest.mark.parametrize("groups", ["variable", "variable_level", "element"])
def test_linear_model_searchlight_is_sigma_times_the_block_gradient(batch64, groups) -> None:
    model = LinearModel().double()
    target = ForecastTarget("msl", None, BOX)
    ref = searchlight_reference(model, batch64, target, patch=4, groups=groups, sigma=1.0, batch_size=5)
    grad = compute_relevance(model, batch64, target, method="saliency", dtype=torch.float64)
    expected = coarsen_relevance(grad, ref)
    for name in ref.data_vars:
        # the normalisation round trip in raw units costs ~1e-7 relative
        np.testing.assert_allclose(ref[name].values, expected[name].values, rtol=1e-6, atol=1e-9)
    assert ref.attrs["n_passes"] == 2 * ref.sizes["latitude"] * ref.sizes["longitude"] * sum(
        int(np.prod([ref[v].sizes[d] for d in ref[v].dims if d in ("level", "history")])) for v in ref.data_vars
    )
    # only the inputs the model reads respond
    assert float(abs(ref["q"]).sum()) == 0.0
    assert float(abs(ref["t"]).sum()) > 0.0
    # input x gradient agrees in rank with the searchlight on a linear model at the
    # block level only up to the inputs' values; the gradient itself agrees exactly
    scores = agreement_scores(coarsen_relevance(grad, ref), ref)
    assert scores["spearman"] == pytest.approx(1.0)


def test_region_limits_the_blocks_and_batching_changes_nothing(batch64) -> None:
    model = tiny_lrp_model(seed=1)
    lat = batch64.metadata.lat.numpy()
    region = Region("near", float(lat[12]), float(lat[4]), 80.0, 160.0)
    target = LatentTarget("encoder", region)
    one = searchlight_reference(model, batch64, target, patch=8, groups="variable", region=region, batch_size=1)
    many = searchlight_reference(model, batch64, target, patch=8, groups="variable", region=region, batch_size=7)
    for name in one.data_vars:
        np.testing.assert_allclose(one[name].values, many[name].values, rtol=1e-8, atol=1e-12)
    values = one["2t"].values
    assert np.isnan(values).any() and np.isfinite(values).any()
    # its size, known without running it (the cost the GPU check reports)
    n_blocks, n_groups = searchlight_size(batch64, patch=8, groups="variable", region=region)
    assert one.attrs["n_passes"] == 2 * n_blocks * n_groups
    scores = agreement_scores(one, one)
    assert scores["n_elements"] == sum(int(np.isfinite(one[v].values).sum()) for v in one.data_vars)


def test_bad_settings_are_refused(batch64) -> None:
    model = LinearModel().double()
    target = ForecastTarget("msl", None, BOX)
    with pytest.raises(ValueError, match="groups must be one of"):
        searchlight_reference(model, batch64, target, groups="cells")
    with pytest.raises(ValueError, match="sigma > 0"):
        searchlight_reference(model, batch64, target, sigma=0.0)
