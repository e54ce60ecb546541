"""Scores of a relevance map against a reference: known answers on hand-made maps."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from aurora_xai.attribution.agreement import agreement_scores, aligned_elements, ndcg_at_k, score_table


def _map(rng: np.random.Generator, *, zero_outside: bool = False) -> xr.Dataset:
    coords = {
        "history": [-6.0, 0.0],
        "level": [500.0, 850.0],
        "latitude": np.linspace(60, 30, 4),
        "longitude": np.arange(0, 50, 10.0),
    }
    t = rng.normal(size=(2, 2, 4, 5))
    s = rng.normal(size=(2, 4, 5))
    if zero_outside:
        t[..., :2, :] = 0.0
        s[..., :2, :] = 0.0
    return xr.Dataset(
        {
            "t": (("history", "level", "latitude", "longitude"), t),
            "2t": (("history", "latitude", "longitude"), s),
        },
        coords=coords,
    )


def test_identical_and_negated_maps() -> None:
    ref = _map(np.random.default_rng(0))
    same = agreement_scores(ref, ref)
    assert same["spearman"] == pytest.approx(1.0)
    assert same["cosine"] == pytest.approx(1.0)
    assert same["ndcg@10"] == pytest.approx(1.0)
    assert same["history_share"] == pytest.approx(same["reference_history_share"])
    assert same["n_elements"] == 2 * 2 * 4 * 5 + 2 * 4 * 5
    neg = agreement_scores(-ref, ref)
    assert neg["spearman"] == pytest.approx(-1.0)
    assert neg["cosine"] == pytest.approx(-1.0)
    # |R| ranks the cells: a negated map finds the same top cells
    assert neg["ndcg@10"] == pytest.approx(1.0)


def test_support_share_is_the_share_of_abs_relevance_on_the_support() -> None:
    rng = np.random.default_rng(1)
    ref = _map(rng, zero_outside=True)  # support: the two southern rows
    method = _map(rng)
    a, b, _, _ = aligned_elements(method, ref)
    on = b != 0
    expected = np.abs(a[on]).sum() / np.abs(a).sum()
    assert agreement_scores(method, ref)["support_share"] == pytest.approx(expected)
    # a map confined to the support puts all of |R| there
    assert agreement_scores(ref * 3.0, ref)["support_share"] == pytest.approx(1.0)


def test_history_share_counts_the_older_steps() -> None:
    ref = _map(np.random.default_rng(2))
    only_now = ref.copy(deep=True)
    for v in only_now.data_vars:
        only_now[v].loc[{"history": -6.0}] = 0.0
    assert agreement_scores(only_now, ref)["history_share"] == 0.0
    only_old = ref - only_now
    assert agreement_scores(only_old, ref)["history_share"] == pytest.approx(1.0)


def test_ndcg_known_answer() -> None:
    gains = np.array([3.0, 2.0, 0.0, 1.0])
    # ranking by scores: index 3, 0, 1, 2 -> gains 1, 3, 2, 0
    scores = np.array([0.9, 0.5, 0.1, 1.0])
    dcg = 1 / np.log2(2) + 3 / np.log2(3) + 2 / np.log2(4)
    ideal = 3 / np.log2(2) + 2 / np.log2(3) + 1 / np.log2(4)
    assert ndcg_at_k(scores, gains, k=3) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(gains, gains, k=2) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="non-negative"):
        ndcg_at_k(scores, -gains)


def test_mismatched_maps_are_refused_with_the_variable_named() -> None:
    ref = _map(np.random.default_rng(3))
    with pytest.raises(KeyError, match="only in the reference: \\['2t'\\]"):
        agreement_scores(ref[["t"]], ref)
    rows = score_table({"a": ref[["t"]]}, ref, variables=["t"])
    assert rows[0]["method"] == "a" and rows[0]["spearman"] == pytest.approx(1.0)
    bad = ref.isel(latitude=slice(0, 3))
    with pytest.raises(ValueError, match="variable '(t|2t)'"):
        agreement_scores(bad, ref)
