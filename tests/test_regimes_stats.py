"""Known-answer tests of the regime statistics: seasonal, bootstrap, separability, figures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import scipy.stats
from matplotlib.figure import Figure
from sklearn.covariance import ledoit_wolf_shrinkage
from sklearn.linear_model import Ridge

from aurora_xai.regimes import bootstrap as bs
from aurora_xai.regimes import classifiers as cl
from aurora_xai.regimes import cv as rcv
from aurora_xai.regimes import figures as rf
from aurora_xai.regimes import seasonal as rs
from aurora_xai.regimes import separability as sp
from aurora_xai.regimes import storm_calm as sc
from aurora_xai.regimes.pca import fit_pca, standardise
from aurora_xai.regimes.seasonal import (
    DAYS_PER_YEAR,
    annual_harmonic_fit,
    harmonic_table,
    season_of_month,
    season_separation,
)

# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True, scope="module")
def _single_blas_thread():
    """Small matrices: multi-threaded BLAS is much slower on a shared machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def two_classes(shift: float, n_per_class: int = 40, p: int = 20, seed: int = 0):
    """Gaussian classes; class 1 shifted by ``shift`` sd in every feature."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2 * n_per_class, p))
    y = np.repeat([0, 1], n_per_class)
    x[y == 1] += shift
    return x, y


def rank_one(n: int = 200, p: int = 50, signal_sd: float = 10.0, seed: int = 1):
    """``x = s u^T + noise`` with ``u`` of equal-magnitude entries (unchanged by z-scoring)."""
    rng = np.random.default_rng(seed)
    u = rng.choice([-1.0, 1.0], size=p) / np.sqrt(p)
    s = signal_sd * rng.standard_normal(n)
    return np.outer(s, u) + rng.standard_normal((n, p)), u


@pytest.fixture(scope="module")
def separated():
    return two_classes(3.0, seed=0)


@pytest.fixture(scope="module")
def identical():
    return two_classes(0.0, n_per_class=50, seed=2)


# ----------------------------------------------------------------------------- seasonal


def test_season_of_month_mapping():
    assert [season_of_month(m) for m in (12, 1, 2, 3, 6, 9, 11)] == ["DJF", "DJF", "DJF", "MAM", "JJA", "SON", "SON"]
    assert list(season_of_month(np.array([1, 4, 7, 10]))) == ["DJF", "MAM", "JJA", "SON"]
    with pytest.raises(ValueError, match="1..12"):
        season_of_month(13)
    with pytest.raises(ValueError, match="1..12"):
        season_of_month([0, 5])


def test_season_separation_detects_planted_difference():
    rng = np.random.default_rng(3)
    seasons = np.repeat(["DJF", "MAM", "JJA", "SON"], 60)
    y = rng.standard_normal(240)
    y[seasons == "DJF"] += 1.0
    res = season_separation(y, seasons, n_permutations=5000, seed=0)
    assert res.n_a == 60 and res.n_b == 60
    assert res.p_value < 0.01
    assert 0.6 < res.cohen_d < 1.4
    assert res.mean_difference == pytest.approx(y[seasons == "DJF"].mean() - y[seasons == "JJA"].mean())


def test_season_separation_null_and_agrees_with_t_test():
    rng = np.random.default_rng(4)
    seasons = np.repeat(["DJF", "JJA"], 80)
    y = rng.standard_normal(160)
    res = season_separation(y, seasons, n_permutations=5000, seed=1)
    assert res.p_value > 0.05
    assert abs(res.cohen_d) < 0.4
    # a moderate effect: the permutation p-value tracks the t-test p-value
    y2 = y + 0.4 * (seasons == "DJF")
    res2 = season_separation(y2, seasons, n_permutations=20000, seed=1)
    p_t = scipy.stats.ttest_ind(y2[seasons == "DJF"], y2[seasons == "JJA"]).pvalue
    assert 0.005 < p_t < 0.5
    assert abs(res2.p_value - p_t) < 0.02
    # deterministic for a seed
    assert (
        season_separation(y2, seasons, n_permutations=500, seed=7).p_value
        == season_separation(y2, seasons, n_permutations=500, seed=7).p_value
    )


def test_season_separation_missing_label():
    with pytest.raises(ValueError, match="SON"):
        season_separation(np.arange(6.0), ["DJF"] * 3 + ["JJA"] * 3, a="DJF", b="SON")


def test_harmonic_fit_recovers_amplitude_and_phase():
    rng = np.random.default_rng(5)
    doy = np.arange(1, 366, dtype=float)
    y = 3.0 + 2.0 * np.cos(2 * np.pi * (doy - 200.0) / DAYS_PER_YEAR) + 0.1 * rng.standard_normal(365)
    fit = annual_harmonic_fit(y, doy)
    assert fit.amplitude == pytest.approx(2.0, abs=0.05)
    assert fit.phase_day == pytest.approx(200.0, abs=2.0)
    assert fit.r2 > 0.99
    table = harmonic_table(np.column_stack([y, rng.standard_normal(365)]), doy)
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["pc", "r2", "corr", "amplitude", "phase_day"]
    assert list(table["pc"]) == ["PC1", "PC2"]
    assert table.loc[0, "amplitude"] == pytest.approx(2.0, abs=0.05)
    assert table.loc[1, "r2"] < 0.05


def test_residualise_annual_removes_planted_cycle():
    rng = np.random.default_rng(6)
    doy = np.tile(np.arange(1, 366), 2).astype(float)
    t = 2 * np.pi * doy / DAYS_PER_YEAR
    noise = rng.standard_normal((730, 30))
    amp = rng.uniform(1, 3, size=30)
    x = 5.0 + np.outer(np.cos(t - 1.0), amp) + np.outer(np.sin(2 * t), amp) + noise
    r = rs.residualise_annual(x, doy, n_harmonics=2)
    for basis in (np.cos(t), np.sin(t), np.cos(2 * t), np.sin(2 * t)):
        assert np.max(np.abs(basis @ (r - r.mean(axis=0)))) < 1e-8
    assert np.allclose(r.mean(axis=0), x.mean(axis=0))
    # what is left is the noise (up to a small fitted part of it)
    assert np.corrcoef(r[:, 0], noise[:, 0])[0, 1] > 0.99
    # one harmonic is not enough for the semi-annual part
    r1 = rs.residualise_annual(x, doy, n_harmonics=1)
    assert np.abs(np.sin(2 * t) @ (r1 - r1.mean(axis=0))).max() > 100


# ----------------------------------------------------------------------------- PCA / bootstrap


def test_rank_one_signal_is_pc1():
    x, u = rank_one()
    pca = fit_pca(x, 3)
    assert abs(pca.components[0] @ u) > 0.99
    assert pca.explained_variance_ratio[0] > 0.5


def test_bootstrap_planted_pc1_is_stable():
    x, _ = rank_one()
    res = bs.bootstrap_pca_stability(x, n_boot=200, k=2, seed=0)
    assert res.abs_cos.shape == (200, 2) and res.angles_deg.shape == (200, 2)
    assert res.abs_cos_mean[0] > 0.99
    assert res.abs_cos_ci[0, 0] > 0.98
    # PC2 is noise: its direction is not reproducible
    assert res.abs_cos_mean[1] < 0.8
    assert res.explained_variance_ratio[:, 0].mean() > 0.5


@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("p", [40, 12])  # Gram-matrix (p > distinct rows) and scatter paths
def test_fast_bootstrap_equals_naive_loop(standardize, p):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((30, p)) + np.outer(rng.standard_normal(30), rng.standard_normal(p))
    x[:, 3] = 100 * x[:, 3] + 1000  # badly scaled, offset column
    fast = bs.bootstrap_pca_stability(x, n_boot=25, k=3, seed=3, standardize=standardize)
    slow = bs.bootstrap_pca_stability_naive(x, n_boot=25, k=3, seed=3, standardize=standardize)
    np.testing.assert_allclose(fast.abs_cos, slow.abs_cos, atol=1e-6)
    np.testing.assert_allclose(np.cos(np.radians(fast.angles_deg)), np.cos(np.radians(slow.angles_deg)), atol=1e-6)
    np.testing.assert_allclose(fast.explained_variance_ratio, slow.explained_variance_ratio, atol=1e-6)
    # the resamples differ from each other, so the agreement is not trivial
    assert fast.abs_cos[:, 1].std() > 1e-3
    approx = bs.bootstrap_pca_stability(x, n_boot=25, k=3, seed=3, standardize=standardize, single_precision=True)
    np.testing.assert_allclose(approx.abs_cos, slow.abs_cos, atol=1e-2)


def test_bootstrap_deterministic_and_validated():
    x, _ = rank_one(n=40, p=15)
    a = bs.bootstrap_pca_stability(x, n_boot=10, k=2, seed=11)
    b = bs.bootstrap_pca_stability(x, n_boot=10, k=2, seed=11)
    c = bs.bootstrap_pca_stability(x, n_boot=10, k=2, seed=12)
    np.testing.assert_array_equal(a.abs_cos, b.abs_cos)
    assert not np.array_equal(a.abs_cos, c.abs_cos)
    with pytest.raises(ValueError, match="k must be"):
        bs.bootstrap_pca_stability(x, n_boot=10, k=40)


def test_principal_angles():
    rng = np.random.default_rng(8)
    q, _ = np.linalg.qr(rng.standard_normal((30, 5)))
    a = q[:, :3].T
    rot, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    np.testing.assert_allclose(bs.principal_angles(a @ (rot @ a).T), 0.0, atol=1e-4)
    np.testing.assert_allclose(bs.principal_angles(a @ q[:, 2:5]), [0.0, 90.0, 90.0], atol=1e-4)
    stacked = bs.principal_angles(np.stack([a @ (rot @ a).T, a @ q[:, 2:5]]))
    np.testing.assert_allclose(stacked, [[0.0, 0.0, 0.0], [0.0, 90.0, 90.0]], atol=1e-4)


# ----------------------------------------------------------------------------- separability


def test_separated_classes(separated):
    x, y = separated
    cv = rcv.cv_classifier_scores(x, y, model="lda", k=5, n_repeats=3, seed=0, n_boot=300)
    assert cv.auc > 0.95
    assert cv.auc_ci[0] > 0.9 and cv.auc_ci[0] <= cv.auc <= cv.auc_ci[1] + 1e-12
    assert cv.balanced_accuracy > 0.9
    assert cv.oof_decision.shape == (3, 80)
    logi = rcv.cv_classifier_scores(x, y, model="logistic", k=5, n_repeats=1, seed=0, n_boot=300)
    assert logi.auc > 0.95
    perm = rcv.permutation_pvalue(x, y, k=5, n_permutations=200, seed=0)
    assert perm.p_value < 0.01
    assert perm.null_aucs.shape == (200,)
    assert abs(perm.null_aucs.mean() - 0.5) < 0.1
    sep = sp.linear_separability(x, y)
    assert sep.separable and not sep.trivially_separable
    assert sep.margin > 0
    assert rcv.cv_contrastive_auc(x, y, k=5, seed=0).auc > 0.95


def test_identical_classes(identical):
    x, y = identical
    cv = rcv.cv_classifier_scores(x, y, model="lda", k=5, n_repeats=3, seed=0, n_boot=300)
    assert abs(cv.auc - 0.5) < 0.15
    assert cv.auc_ci[0] < 0.5 < cv.auc_ci[1]
    perm = rcv.permutation_pvalue(x, y, k=5, n_permutations=200, seed=0)
    assert perm.p_value > 0.05
    assert abs(rcv.cv_contrastive_auc(x, y, k=5, seed=0).auc - 0.5) < 0.15
    # 100 random points in 20 dimensions are not linearly separable ...
    assert not sp.linear_separability(x, y).separable
    assert not sp.separability_in_pc_space(x, y, 2).separable


def test_separability_trivial_when_p_exceeds_n():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((20, 100))
    y = np.repeat([0, 1], 10)
    res = sp.linear_separability(x, y)
    assert res.separable and res.trivially_separable and res.margin > 0
    assert not sp.separability_in_pc_space(x, y, 1).separable


def test_contrastive_axis_direction():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((400, 10))
    y = (np.arange(400) % 2).astype(int)
    x[y == 1, 2] += 2.0
    axis = cl.contrastive_axis(x, y)
    assert abs(axis.direction[2]) > 0.95 and axis.direction[2] > 0
    assert np.linalg.norm(axis.direction) == pytest.approx(1.0)
    assert axis.project(x[y == 1]).mean() > axis.project(x[y == 0]).mean()


def test_lda_dual_matches_primal_ridge():
    x, y = two_classes(0.5, n_per_class=30, p=50, seed=12)
    gamma = 0.4
    cv = rcv.cv_classifier_scores(x, y, model="lda", k=5, n_repeats=1, seed=3, shrinkage=gamma, n_boot=10)
    for train, test in rcv.stratified_folds(y, 5, 3):
        z, mean, scale = standardise(x[train])
        ridge = Ridge(alpha=len(train) * gamma / (1 - gamma)).fit(z, y[train])
        pred = ridge.predict((x[test] - mean) / scale)
        offset = cv.oof_decision[0, test] - pred
        assert np.ptp(offset) < 1e-8  # same decision up to the fold's threshold


def test_ledoit_wolf_dual_matches_sklearn():
    rng = np.random.default_rng(13)
    z = rng.standard_normal((40, 60)) * np.linspace(0.3, 3, 60) + np.outer(
        rng.standard_normal(40), rng.standard_normal(60)
    )
    z -= z.mean(axis=0)
    expected = ledoit_wolf_shrinkage(z, assume_centered=True)
    assert 0 < expected < 1
    assert cl.ledoit_wolf_shrinkage_dual(z @ z.T, 60) == pytest.approx(expected, rel=1e-10)


def test_within_season_auc_skips_small_seasons():
    x, y = two_classes(3.0, n_per_class=40, p=10, seed=14)
    seasons = np.array(["DJF"] * 80)
    seasons[np.flatnonzero(y == 1)[:2]] = "JJA"  # 2 storms, no calm in JJA
    table = rcv.within_season_auc(x, y, seasons, k=5, seed=0)
    assert list(table["season"]) == ["DJF", "JJA"]
    djf, jja = table.iloc[0], table.iloc[1]
    assert djf["skipped"] == "" and djf["auc"] > 0.95
    assert np.isnan(jja["auc"]) and "2 storm" in jja["skipped"]


def test_input_validation():
    x = np.zeros((10, 3))
    with pytest.raises(ValueError, match="only 0"):
        rcv.cv_contrastive_auc(x, np.arange(10) % 3)
    with pytest.raises(ValueError, match="2 storm"):
        rcv.cv_classifier_scores(np.random.default_rng(0).standard_normal((10, 3)), np.array([1, 1] + [0] * 8), k=5)
    with pytest.raises(ValueError, match="model"):
        rcv.cv_classifier_scores(np.random.default_rng(0).standard_normal((20, 3)), np.arange(20) % 2, model="svm")


def test_storm_calm_report(separated):
    x, y = separated
    doy = np.random.default_rng(16).permutation(np.linspace(1, 365, len(y)))
    seasons = season_of_month(np.clip(np.ceil(doy / 30.5), 1, 12).astype(int))
    rep = sc.storm_calm_report(x, y, doy, seasons, seed=0, n_permutations=200, k=5, n_pcs=5, n_repeats=2, n_boot=200)
    flat = rep.to_dict()
    for key in [
        "storm_calm_auc",
        "storm_calm_auc_ci_low",
        "storm_calm_auc_ci_high",
        "storm_calm_auc_n",
        "storm_calm_balanced_accuracy",
        "storm_calm_perm_p",
        "storm_calm_linearly_separable",
        "storm_calm_linearly_separable_pc5",
        "storm_calm_contrastive_auc",
        "storm_calm_residualised_auc",
    ]:
        assert key in flat
    assert rep.auc.value > 0.95 and rep.auc.ci_low <= rep.auc.value <= rep.auc.ci_high
    assert rep.perm_p < 0.01
    assert rep.separability.separable and flat["storm_calm_linearly_separable"] == 1
    assert rep.n == 80 and rep.n_pcs == 5
    assert rep.residualised_auc.value > 0.9
    assert rep.blocked is None and rep.not_applicable == {}


def test_residualising_removes_a_purely_seasonal_contrast():
    # "storms" are the winter half of the year and the features only carry the season:
    # the raw AUC is high, after removing the annual harmonics it is at chance
    rng = np.random.default_rng(17)
    doy = np.tile(np.arange(1, 366, 3), 2).astype(float)
    season_signal = np.cos(2 * np.pi * doy / DAYS_PER_YEAR)
    y = (season_signal > 0).astype(int)
    x = np.outer(season_signal, rng.standard_normal(15)) + 0.5 * rng.standard_normal((len(doy), 15))
    raw = rcv.cv_classifier_scores(x, y, k=5, n_repeats=1, seed=0, n_boot=50).auc
    res = rcv.cv_classifier_scores(x, y, k=5, n_repeats=3, seed=0, n_boot=50, day_of_year=doy).auc
    assert raw > 0.95
    assert abs(res - 0.5) < 0.1
    assert rcv.permutation_pvalue(x, y, n_permutations=200, seed=0, day_of_year=doy).p_value > 0.05
    # a genuine, non-seasonal contrast survives the in-fold residualisation
    x2 = x.copy()
    x2[np.arange(len(y)) % 2 == 1] += 1.5
    y2 = (np.arange(len(y)) % 2 == 1).astype(int)
    assert rcv.cv_classifier_scores(x2, y2, k=5, n_repeats=1, seed=0, n_boot=50, day_of_year=doy).auc > 0.95


# ----------------------------------------------------------------------------- figures


def _check_fig(fig):
    assert isinstance(fig, Figure)
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert axes
    for ax in axes:
        assert ax.get_xlabel() and ax.get_ylabel()
    plt.close(fig)


def test_figures_have_labelled_axes(separated):
    x, y = separated
    rng = np.random.default_rng(15)
    pca = fit_pca(x, 4)
    months = rng.integers(1, 13, size=len(y))
    fig = rf.plot_pc_scatter_by_month(pca.scores, months, pca.explained_variance_ratio)
    assert "%" in fig.axes[0].get_xlabel()
    _check_fig(fig)
    doy = rng.uniform(1, 365, size=len(y))
    _check_fig(rf.plot_pc_through_year(doy, pca.scores[:, 0], annual_harmonic_fit(pca.scores[:, 0], doy)))
    _check_fig(rf.plot_scree(pca.explained_variance_ratio))
    proj = rcv.cv_contrastive_auc(x, y).oof_projection
    fig = rf.plot_storm_calm(proj, pca.scores, y)
    assert fig.axes[0].get_legend() is not None
    _check_fig(fig)
    _check_fig(rf.plot_bootstrap(bs.bootstrap_pca_stability(x, n_boot=30, k=2, seed=0)))


def test_phase_randomised_surrogates_keep_the_periodogram():
    from aurora_xai.regimes.seasonal import phase_randomised_surrogates

    rng = np.random.default_rng(0)
    x = np.cumsum(rng.standard_normal(100)) + 3.0
    s = phase_randomised_surrogates(x, 5, seed=1)
    assert s.shape == (5, 100)
    np.testing.assert_allclose(np.abs(np.fft.rfft(s, axis=1)), np.tile(np.abs(np.fft.rfft(x)), (5, 1)), atol=1e-8)
    np.testing.assert_allclose(s.mean(axis=1), x.mean())
    assert not np.allclose(s[0], x)


def test_surrogate_djf_jja_test_is_calibrated_on_autocorrelated_noise():
    # AR(1) phi 0.9 without a seasonal cycle: the i.i.d. permutation test rejects in
    # about 70 % of realisations, the surrogate test at most at its nominal 5 %
    import pandas as pd

    from aurora_xai.regimes.seasonal import season_of_month, season_separation, surrogate_season_test

    dates = pd.date_range("2005-01-01", periods=365)
    doy = dates.day_of_year.values
    seasons = np.array([season_of_month(m) for m in dates.month])
    rng = np.random.default_rng(9)
    realisations, iid, surrogate = 100, 0, 0
    for r in range(realisations):
        e = rng.standard_normal(565)
        x = np.zeros(565)
        for t in range(1, 565):
            x[t] = 0.9 * x[t - 1] + e[t]
        x = x[200:]
        iid += season_separation(x, seasons, n_permutations=199, seed=r).p_value < 0.05
        test = surrogate_season_test(x, doy, seasons, n_surrogates=199, seed=r)
        surrogate += test.cohen_d_p < 0.05
        assert test.cohen_d_null[0] <= test.cohen_d_null[1]
    assert iid >= 45
    assert surrogate <= 9
    # a strong annual cycle is found
    x = x + 3.0 * np.cos(2 * np.pi * (doy - 15) / 365.25)
    assert surrogate_season_test(x, doy, seasons, n_surrogates=199).cohen_d > 2


def test_lda_fold_with_a_singular_gram_matrix_takes_the_minimum_norm_solution():
    """Two training days without shrinkage: the centred Gram matrix is singular, and the
    fold's maps are the pseudo-inverse's (the vanishing-ridge limit), not an error."""
    import scipy.linalg

    from aurora_xai.regimes.classifiers import lda_fold
    from aurora_xai.regimes.pca import standardise as std

    x = np.random.default_rng(0).normal(size=(6, 5))
    train, test = np.array([0, 1]), np.array([2, 3, 4, 5])
    fold = lda_fold(x, train, test, 0.0)
    z_tr, mean, scale = std(x[train])
    k_tr = z_tr @ z_tr.T
    inv = scipy.linalg.pinvh(k_tr)
    assert np.all(np.isfinite(fold.to_test)) and np.all(np.isfinite(fold.to_train))
    np.testing.assert_allclose(fold.to_train, k_tr @ inv)
    np.testing.assert_allclose(fold.to_test, ((x[test] - mean) / scale) @ z_tr.T @ inv)
