"""The data-randomisation control: targets shuffled across times cannot be learned, and
the relevance similarity it reports has known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from aurora_xai.attribution._testing import synthetic_batch, tiny_lrp_model
from aurora_xai.attribution.cascade import relevance_similarity
from aurora_xai.attribution.data_randomisation import data_randomisation_rows
from aurora_xai.attribution.targets import ForecastTarget
from aurora_xai.attribution.validation_tables import SURVIVAL_THRESHOLD, datarand_headline
from aurora_xai.headline_labels import describe
from aurora_xai.regions import Region
from aurora_xai.surrogate.samples import shuffled_target_times
from aurora_xai.tables import headline_rows

BOX = Region("box", -20.0, 20.0, 40.0, 100.0)


def test_the_shuffle_is_a_seeded_cycle_that_keeps_every_target_once() -> None:
    times = pd.date_range("2004-10-01T06", periods=240, freq="6h")
    a = shuffled_target_times(times, 0)
    assert a.equals(shuffled_target_times(times, 0))  # seeded
    assert not a.equals(shuffled_target_times(times, 1))
    assert sorted(a) == list(times)  # a permutation: each target used once
    assert not (a == times).any()  # no time keeps its own target
    # one cycle through every time
    index = {t: i for i, t in enumerate(times)}
    seen, i = set(), 0
    while i not in seen:
        seen.add(i)
        i = index[a[i]]
    assert len(seen) == len(times)


def _skill(pred: np.ndarray, truth: np.ndarray) -> float:
    return 1.0 - float(np.mean((pred - truth) ** 2) / np.var(truth))


def test_shuffled_targets_cannot_be_fitted_while_the_true_pairs_can() -> None:
    """A known answer on a tiny problem: y(t + 6 h) = 0.9 x(t) - 0.5 x(t - 6 h) + noise
    (an AR process x). Least squares on the true pairs recovers the map (held-out skill
    ~0.95); on the pairs of the shuffled control it learns nothing (skill ~0)."""
    rng = np.random.default_rng(3)
    n = 2000
    x = np.zeros(n + 2)
    for k in range(1, n + 2):
        x[k] = 0.8 * x[k - 1] + rng.standard_normal()
    times = pd.date_range("2004-10-01T06", periods=n, freq="6h")
    inputs = np.stack([x[1:-1], x[:-2]], axis=1)  # (x(t), x(t - 6 h))
    target = 0.9 * x[1:-1] - 0.5 * x[:-2] + 0.2 * rng.standard_normal(n)
    train, test = slice(0, n // 2), slice(n // 2, n)

    def fit(pairing: pd.DatetimeIndex) -> np.ndarray:
        y = target[times.get_indexer(pairing)]
        coef, *_ = np.linalg.lstsq(inputs[train], y[train], rcond=None)
        return coef

    true = fit(times)
    shuffled = fit(shuffled_target_times(times, 0))
    assert _skill(inputs[test] @ true, target[test]) > 0.9
    assert _skill(inputs[test] @ shuffled, target[test]) < 0.05
    assert np.allclose(true, [0.9, -0.5], atol=0.05)
    assert np.all(np.abs(shuffled) < 0.1)


def _map(values: np.ndarray) -> xr.Dataset:
    return xr.Dataset({"2t": (("history", "latitude", "longitude"), values)})


def test_relevance_similarity_known_answers() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 8, 16))
    same = relevance_similarity(_map(a), _map(a))
    assert same["spearman"] == pytest.approx(1.0) and same["cosine"] == pytest.approx(1.0)
    assert same["spearman_abs"] == pytest.approx(1.0) and same["n_elements"] == a.size
    flipped = relevance_similarity(_map(-a), _map(a))
    assert flipped["spearman"] == pytest.approx(-1.0) and flipped["cosine"] == pytest.approx(-1.0)
    assert flipped["spearman_abs"] == pytest.approx(1.0)  # |R| is the same map
    unrelated = relevance_similarity(_map(rng.standard_normal(a.shape)), _map(a))
    assert abs(unrelated["spearman"]) < 0.2 and abs(unrelated["cosine"]) < 0.2
    assert np.isnan(relevance_similarity(_map(np.zeros_like(a)), _map(a))["cosine"])
    with pytest.raises(ValueError, match="variables"):
        relevance_similarity(_map(a), xr.Dataset({"msl": (("history", "latitude", "longitude"), a)}))


def test_a_model_compared_with_itself_scores_one_and_is_flagged() -> None:
    batch = synthetic_batch(nlat=17, nlon=32, dtype=torch.float64)
    model = tiny_lrp_model(seed=0)
    target = ForecastTarget("2t", None, BOX)
    labels = ["lrp_cp", "input_x_gradient", "saliency"]
    rows, maps = data_randomisation_rows(model, model, batch, target, labels, "case_a", epsilon=0.0)
    assert [r["method"] for r in rows] == labels
    for r in rows:
        assert r["spearman"] == pytest.approx(1.0) and r["cosine"] == pytest.approx(1.0)
        assert r["survives"] and r["target_trained"] == r["target_shuffled"]
    assert set(maps) == {(m, label) for m in ("trained", "shuffled") for label in labels}
    assert not any(str(v).startswith("static_") for ds in maps.values() for v in ds.data_vars)
    # another model's maps: scored, and flagged only above the cascade's threshold
    other, _ = data_randomisation_rows(model, tiny_lrp_model(seed=5), batch, target, labels[:1], "case_a")
    assert other[0]["spearman"] < 1.0
    assert other[0]["survives"] == (abs(other[0]["spearman"]) > SURVIVAL_THRESHOLD)


def test_headline_rows_are_named_labelled_and_calibrated() -> None:
    rows = [
        {"case": "great_storm_1987", "method": "lrp_cp", "spearman": 0.1, "cosine": 0.2, "n_elements": 100},
        {"case": "great_storm_1987", "method": "saliency", "spearman": -0.05, "cosine": 0.0, "n_elements": 100},
    ]
    table = headline_rows(datarand_headline(rows))
    assert list(table["metric"]) == ["datarand_lrp_cp_great_storm_1987", "datarand_saliency_great_storm_1987"]
    assert list(table["value"]) == [0.1, -0.05]
    assert set(table["n_unit"]) == {"input elements"}
    what = describe("datarand_lrp_cp_great_storm_1987")
    assert what.group == "validation" and "_" not in what.label
    assert what.label == "LRP (CP) under shuffled-target training, great storm 1987"
