"""The model-parameter randomisation cascade: the relevance similarity falls where layers matter."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aurora_xai.attribution._testing import synthetic_batch, tiny_lrp_model
from aurora_xai.attribution.cascade import aurora_stages, cascade_similarity, randomisation_cascade, randomise_
from aurora_xai.attribution.methods import compute_relevance
from aurora_xai.attribution.targets import ForecastTarget, LatentTarget
from aurora_xai.regions import Region

BOX = Region("box", -20.0, 20.0, 40.0, 100.0)


@pytest.fixture(scope="module")
def batch64():
    return synthetic_batch(nlat=17, nlon=32, dtype=torch.float64)


def test_stages_run_from_the_output_down_and_leave_the_model_untouched() -> None:
    model = tiny_lrp_model(seed=0)
    names = [s for s, _ in aurora_stages(model)]
    assert names[0] == "decoder" and names[-1] == "encoder"
    assert names.index("backbone.decoder_layers.0") < names.index("backbone.encoder_layers.2")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    steps = list(randomisation_cascade(model, seed=3))
    assert len(steps) == len(names)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    randomised = steps[-1][1].state_dict()
    changed = [k for k in before if before[k].numel() > 1 and not torch.equal(before[k], randomised[k])]
    assert len(changed) >= 0.9 * sum(1 for v in before.values() if v.numel() > 1)


def test_redraw_keeps_each_tensors_scale() -> None:
    lin = torch.nn.Linear(200, 100).double()
    w = lin.weight.detach().clone()
    randomise_(lin, seed=1)
    assert not torch.equal(w, lin.weight)
    assert float(lin.weight.std()) == pytest.approx(float(w.std()), rel=0.05)


@pytest.mark.parametrize("method", ["lrp", "input_x_gradient", "saliency"])
def test_similarity_falls_when_the_layers_that_produce_the_target_are_randomised(batch64, method) -> None:
    model = tiny_lrp_model(seed=0)
    target = ForecastTarget("2t", None, BOX)
    rows = cascade_similarity(
        model, lambda m: compute_relevance(m, batch64, target, method=method, epsilon=0.0, dtype=torch.float64)
    )
    assert rows[0]["stage"] == "none" and rows[0]["spearman"] == 1.0
    # measured: -0.3 to -0.1 after each step for all three methods
    assert all(abs(r["spearman"]) < 0.5 for r in rows[1:])


def test_similarity_stays_while_only_layers_above_the_target_are_randomised(batch64) -> None:
    """A latent target at the encoder does not depend on the decoder or backbone: the
    similarity stays 1 until the encoder itself is randomised (so the check can fail)."""
    model = tiny_lrp_model(seed=0)
    target = LatentTarget("encoder", BOX)
    rows = cascade_similarity(
        model, lambda m: compute_relevance(m, batch64, target, method="lrp", epsilon=0.0, dtype=torch.float64)
    )
    assert all(r["spearman"] == pytest.approx(1.0) for r in rows[:-1])
    assert rows[-1]["stage"] == "encoder" and rows[-1]["spearman"] < 0.5
    assert np.isfinite(rows[-1]["spearman_abs"])
