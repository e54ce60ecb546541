"""The top mask ranked among the random masks: exceedance p, rank interval, headline rows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from aurora_xai.perturbation.rank import (
    aopc_rank_ratio,
    exceedance_p,
    min_draws_for_interval,
    rank_interval,
    rank_ratio,
)


def test_exceedance_p_counts_the_top_mask_as_a_draw():
    rnd = np.arange(1.0, 11.0)  # 1..10
    assert exceedance_p(11.0, rnd) == pytest.approx(1 / 11)
    assert exceedance_p(10.0, rnd) == pytest.approx(2 / 11)
    assert exceedance_p(0.0, rnd) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        exceedance_p(1.0, [])


def test_exceedance_p_is_uniform_when_the_top_mask_is_exchangeable():
    rng = np.random.default_rng(0)
    n = 19
    ps = np.array([exceedance_p(x[0], x[1:]) for x in rng.gamma(2.0, 1.0, size=(4000, n + 1))])
    for k in (1, 2, 5):
        assert np.mean(ps <= k / (n + 1)) == pytest.approx(k / (n + 1), abs=0.015)


def test_rank_interval_closed_form_and_too_few_draws():
    assert min_draws_for_interval(0.95) == 39
    assert min_draws_for_interval(0.9) == 19
    rnd = np.arange(1.0, 40.0)  # 39 draws: k = 1, the extreme draws bound the interval
    lo, hi = rank_interval(78.0, rnd)
    assert (lo, hi) == (pytest.approx(78.0 / 39), pytest.approx(78.0))
    rnd = np.arange(1.0, 80.0)  # 79 draws: k = 2, the second extremes
    lo, hi = rank_interval(10.0, rnd)
    assert (lo, hi) == (pytest.approx(10.0 / 78), pytest.approx(10.0 / 2))
    assert rank_interval(5.0, np.arange(1.0, 39.0)) == (0.0, math.inf)  # 38 draws
    r = rank_ratio(5.0, np.arange(1.0, 11.0))
    assert not r.bounded and r.n_draws == 10 and r.ratio == pytest.approx(5.0 / 5.5)


def test_rank_interval_covers_the_scale_at_the_nominal_rate():
    rng = np.random.default_rng(1)
    theta, n = 2.5, 50
    hits = []
    for _ in range(3000):
        x = rng.lognormal(0.0, 0.5, size=n + 1)
        r = rank_ratio(theta * x[0], x[1:])
        assert r.ci_low <= r.ratio <= r.ci_high
        hits.append(r.ci_low <= theta <= r.ci_high)
    # k = 1 of 51: coverage 1 - 2/51 = 0.961
    assert np.mean(hits) == pytest.approx(1 - 2 / 51, abs=0.012)


def test_aopc_rank_ratio_ranks_whole_curves():
    rnd = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]])  # (P=2, N=3): draw AOPCs 2, 3, 4
    r = aopc_rank_ratio([5.0, 7.0], rnd)
    assert r.ratio == pytest.approx(6.0 / 3.0) and r.p_exceed == pytest.approx(1 / 4)
    with pytest.raises(ValueError, match="must be"):
        aopc_rank_ratio([1.0, 2.0, 3.0], rnd)


def _result(n_draws: int, top: float = 5.0):
    from aurora_xai.perturbation.experiment import PerturbationResult

    rnd = np.linspace(0.5, 1.5, n_draws)
    one = rank_ratio(top, rnd)
    aopc = rank_ratio(top, rnd)
    table = pd.DataFrame(
        [
            dict(
                method="lrp",
                mask_kind="scattered",
                p=1.0,
                metric_reference="clean",
                ratio=one.ratio,
                ci_low=one.ci_low,
                ci_high=one.ci_high,
                n_draws=n_draws,
                p_exceed=one.p_exceed,
            )
        ]
    )
    a = pd.DataFrame(
        [
            dict(
                method="lrp",
                mask_kind="scattered",
                metric_reference="clean",
                aopc_relevant=top,
                aopc_random=1.0,
                ratio=aopc.ratio,
                ci_low=aopc.ci_low,
                ci_high=aopc.ci_high,
                n_fractions=1,
                n_draws=n_draws,
                units="(hPa)^2",
                p_exceed=aopc.p_exceed,
            )
        ]
    )
    return PerturbationResult(table, a, None)


def test_headline_states_the_rank_p_and_an_honest_interval():
    pytest.importorskip("torch")
    from aurora_xai.perturbation.headline import headline
    from aurora_xai.tables import headline_rows

    rows = headline_rows(headline(_result(50))).set_index("metric")
    p = rows.loc["perturbation_p_exceed_p1"]
    assert p["value"] == pytest.approx(1 / 51) and p["n"] == 50 and p["n_unit"] == "random-mask draws"
    assert "50 random masks" in p["method"] and "p < 1/(B+1)" in p["method"]
    ratio = rows.loc["perturbation_ratio_p1"]
    assert ratio["ci_low"] == pytest.approx(5.0 / 1.5) and "rank interval" in ratio["method"]
    assert "one case (one date)" in ratio["method"]
    # Ten draws cannot bound the interval: it is left empty and the method says why.
    few = headline_rows(headline(_result(10))).set_index("metric")
    for metric in ("perturbation_ratio_p1", "perturbation_aopc_ratio_lrp"):
        assert pd.isna(few.loc[metric, "ci_low"]) and pd.isna(few.loc[metric, "ci_high"])
        assert "cannot bound" in few.loc[metric, "method"] and "39" in few.loc[metric, "method"]
