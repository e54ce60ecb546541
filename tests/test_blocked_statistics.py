"""Statistics that respect the serial dependence of daily samples.

Known answers: on an AR(1) series with no class signal and labels in runs, shuffled
folds of single days report a held-out AUC above 0.5 and blocked folds do not; the block
bootstrap's interval is wider than the i.i.d. one on autocorrelated data; the automatic
block length is about 1 on white noise and grows with the autocorrelation.
"""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from sklearn.model_selection import StratifiedGroupKFold
from threadpoolctl import threadpool_limits

from aurora_xai.dates import date_metadata
from aurora_xai.io import write_netcdf
from aurora_xai.regimes import cv as rcv
from aurora_xai.regimes import figures as rf
from aurora_xai.regimes.applicability import NotApplicableError
from aurora_xai.regimes.blocking import (
    BlockedKFold,
    TimeBlocking,
    autocorrelation,
    circular_block_indices,
    day_numbers,
    episode_groups,
    group_bootstrap_weights,
    label_units,
    optimal_block_length,
    unit_permutations,
    week_groups,
)
from aurora_xai.regimes.bootstrap import (
    bootstrap_pca_stability,
    bootstrap_pca_stability_naive,
    pc1_block_length,
)
from aurora_xai.regimes.seasonal import DAYS_PER_YEAR
from aurora_xai.regimes.study import blocking_of, bootstrap_dataset, bootstrap_headline, storm_calm_analysis
from aurora_xai.tables import headline_rows

DAY0 = int(day_numbers(["2005-01-01"])[0])


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def ar1(n: int, p: int, phi: float, rng: np.random.Generator) -> np.ndarray:
    """``(n, p)`` independent stationary AR(1) series with coefficient ``phi``."""
    e = rng.standard_normal((n, p))
    x = np.empty((n, p))
    x[0] = e[0] / np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x


def label_runs(n: int, shortest: int, longest: int, rng: np.random.Generator) -> np.ndarray:
    """0/1 labels in alternating runs of ``shortest..longest`` consecutive days."""
    y = np.empty(n, dtype=int)
    t, lab = 0, int(rng.integers(2))
    while t < n:
        length = int(rng.integers(shortest, longest + 1))
        y[t : t + length] = lab
        lab, t = 1 - lab, t + length
    return y


# ----------------------------------------------------------------------------- groups and folds


def test_episodes_are_runs_of_consecutive_days_with_one_label():
    days = DAY0 + np.array([0, 1, 2, 3, 5, 6, 7, 20, 21])
    y = np.array([1, 1, 0, 0, 0, 0, 1, 1, 1])
    assert episode_groups(days, y).tolist() == [0, 0, 1, 1, 2, 2, 3, 4, 4]
    order = np.array([8, 0, 4, 2, 6, 1, 3, 5, 7])  # the same days in another order
    assert episode_groups(days[order], y[order]).tolist() == [4, 0, 2, 1, 3, 0, 1, 2, 4]


def test_weeks_are_iso_calendar_weeks():
    dates = pd.to_datetime(["2004-12-30", "2005-01-01", "2005-01-02", "2005-01-03", "2005-01-09", "2005-01-10"])
    # 2005-01-01 and 02 belong to ISO week 53 of 2004, Monday 3 January starts week 1
    assert week_groups(day_numbers(dates)).tolist() == [0, 0, 0, 1, 1, 2]
    assert day_numbers(pd.DatetimeIndex(dates).tz_localize("UTC")).tolist() == day_numbers(dates).tolist()


def test_blocked_kfold_keeps_groups_whole_and_leaves_a_gap():
    rng = np.random.default_rng(3)
    n = 120
    days = DAY0 + np.arange(n)
    y = label_runs(n, 3, 8, rng)
    groups = episode_groups(days, y)
    gap = 4
    splits = list(BlockedKFold(5, days, gap, random_state=1).split(None, y, groups))
    plain = list(StratifiedGroupKFold(5, shuffle=True, random_state=1).split(np.zeros((n, 1)), y, groups))
    tested = np.concatenate([te for _, te in splits])
    assert sorted(tested.tolist()) == list(range(n))  # every day tested once
    for (tr, te), (tr0, te0) in zip(splits, plain):
        assert np.array_equal(te, te0)  # the test folds are StratifiedGroupKFold's
        assert not set(groups[tr]) & set(groups[te])  # no group on both sides
        dist = np.abs(days[tr][:, None] - days[te][None, :]).min(axis=1)
        assert dist.min() > gap  # nothing within the gap is trained on
        near = np.setdiff1d(tr0, tr)  # and only what is within the gap was dropped
        assert np.all(np.abs(days[near][:, None] - days[te][None, :]).min(axis=1) <= gap)
    zero = list(BlockedKFold(5, days, 0, random_state=1).split(None, y, groups))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(zero, plain))


def test_blocked_folds_say_when_there_are_too_few_episodes():
    days = DAY0 + np.arange(40)
    y = np.r_[np.ones(10), np.zeros(30)].astype(int)  # one storm episode, one calm episode
    blocking = TimeBlocking("episode", days, 2)
    with pytest.raises(NotApplicableError, match="at least 5 episodes .* got 1 with storm"):
        blocking.folds(y, 5, 0)
    x = np.random.default_rng(0).standard_normal((40, 6))
    with pytest.raises(NotApplicableError, match="episodes"):
        rcv.cv_classifier_scores(x, y, k=5, blocking=blocking)
    with pytest.raises(ValueError, match="'none' means no TimeBlocking"):
        TimeBlocking("none", days, 2)
    with pytest.raises(ValueError, match="cv_gap_days"):
        TimeBlocking("week", days, -1)
    assert blocking_of("none", 3, pd.date_range("2005-01-01", periods=4)) is None
    with pytest.raises(ValueError, match="regimes.cv_blocking"):
        blocking_of("month", 3, pd.date_range("2005-01-01", periods=4))


def test_group_bootstrap_resamples_whole_groups_within_their_class():
    groups = np.array([0, 0, 0, 1, 1, 2, 3, 3, 4, 4, 4, 4])
    y = np.array([1, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0])  # group 4 holds both classes
    w = group_bootstrap_weights(groups, y, 500, np.random.default_rng(0))
    for g in np.unique(groups):
        assert np.all(w[:, groups == g] == w[:, groups == g][:, :1])  # one count per group
    storm_only, calm_only = [0, 2], [1, 3]
    first = np.array([np.flatnonzero(groups == g)[0] for g in range(5)])
    assert np.all(w[:, first[storm_only]].sum(axis=1) == 2)
    assert np.all(w[:, first[calm_only]].sum(axis=1) == 2)
    assert np.all(w[:, first[4]] == 1)  # the only mixed group is always drawn once
    assert np.all((w * y).sum(axis=1) > 0) and np.all((w * (1 - y)).sum(axis=1) > 0)


def test_unit_permutations_move_whole_episodes_within_test_folds():
    rng = np.random.default_rng(1)
    n = 150
    days = DAY0 + np.arange(n)
    y = label_runs(n, 2, 7, rng)
    blocking = TimeBlocking("week", days, 2)
    folds = blocking.folds(y, 5, 0)
    units = label_units(days, y, blocking.groups(y))
    perms = unit_permutations(y, units, folds, 200, rng)
    assert perms.shape == (200, n)
    for lab in perms[:20]:
        for u in np.unique(units):
            assert len(np.unique(lab[units == u])) == 1  # every unit keeps one label
        for _, te in folds:  # every test fold keeps its number of storm and calm units
            first = [np.flatnonzero(units[te] == u)[0] for u in np.unique(units[te])]
            assert lab[te][first].sum() == y[te][first].sum()
    assert not np.all(perms == y)
    weeks = blocking.groups(y)
    for u in np.unique(units):  # a unit lies in one week and one episode
        assert len(np.unique(weeks[units == u])) == 1
        assert len(np.unique(episode_groups(days, y)[units == u])) == 1


# ----------------------------------------------------------------------------- the known answer


def test_shuffled_folds_inflate_the_auc_of_autocorrelated_noise_and_blocked_folds_do_not():
    """AR(1) features (phi 0.9) without any class signal, labels in runs of 5-15 days.

    Neighbouring days of one run share both their label and (through the
    autocorrelation) their features, so shuffled folds score the chance correlation of
    slow features with slow labels as if it were signal; folds of whole episodes with a
    gap of about the decorrelation time (-1 / ln 0.9 = 9.5 days) do not.
    """
    n, p, phi, gap = 200, 10, 0.9, 15
    iid, blocked, iid_p, block_p = [], [], [], []
    with threadpool_limits(1):  # small matrices: more BLAS threads only add overhead
        for seed in range(10):
            rng = np.random.default_rng(seed)
            x, y = ar1(n, p, phi, rng), label_runs(n, 5, 15, rng)
            blocking = TimeBlocking("episode", DAY0 + np.arange(n), gap)
            iid.append(rcv.cv_classifier_scores(x, y, k=5, n_repeats=3, seed=seed, n_boot=300))
            blocked.append(rcv.cv_classifier_scores(x, y, k=5, n_repeats=3, seed=seed, n_boot=300, blocking=blocking))
            iid_p.append(rcv.permutation_pvalue(x, y, k=5, n_permutations=300, seed=seed).p_value)
            block_p.append(rcv.permutation_pvalue(x, y, k=5, n_permutations=300, seed=seed, blocking=blocking).p_value)
    iid_auc = np.array([r.auc for r in iid])
    blocked_auc = np.array([r.auc for r in blocked])
    iid_above = np.mean([r.auc_ci[0] > 0.5 for r in iid])
    blocked_covers = np.mean([r.auc_ci[0] <= 0.5 <= r.auc_ci[1] for r in blocked])
    # shuffled folds: clearly above chance, the interval excludes 0.5, the test "finds" a signal
    assert iid_auc.mean() > 0.6 and iid_above >= 0.7
    assert np.mean(np.array(iid_p) < 0.05) >= 0.6
    # blocked folds: chance, with an interval covering 0.5 and a calibrated test
    assert abs(blocked_auc.mean() - 0.5) < 0.06 and blocked_covers >= 0.8
    assert np.mean(np.array(block_p) < 0.05) <= 0.2
    widths = [np.diff(r.auc_ci)[0] for r in blocked], [np.diff(r.auc_ci)[0] for r in iid]
    assert np.mean(widths[0]) > 1.5 * np.mean(widths[1])  # whole episodes resampled: wider
    assert blocked[0].blocking == "episode" and blocked[0].gap_days == gap and blocked[0].n_groups < n / 5


def test_blocked_cv_still_finds_a_real_signal():
    rng = np.random.default_rng(5)
    n = 200
    x, y = ar1(n, 10, 0.9, rng), label_runs(n, 5, 15, rng)
    x[:, :3] += 3.0 * y[:, None]  # a planted storm signal in three features
    blocking = TimeBlocking("episode", DAY0 + np.arange(n), 15)
    res = rcv.cv_classifier_scores(x, y, k=5, n_repeats=2, seed=0, n_boot=300, blocking=blocking)
    assert res.auc > 0.8 and res.auc_ci[0] > 0.6
    assert rcv.permutation_pvalue(x, y, k=5, n_permutations=200, seed=0, blocking=blocking).p_value < 0.02
    assert rcv.cv_contrastive_auc(x, y, k=5, seed=0, blocking=blocking).auc > 0.8


# ----------------------------------------------------------------------------- block bootstrap


def test_block_length_is_about_one_on_white_noise_and_grows_with_phi():
    n = 365
    lengths = {
        phi: np.median([optimal_block_length(ar1(n, 1, phi, np.random.default_rng(s))[:, 0]) for s in range(15)])
        for phi in (0.0, 0.5, 0.8, 0.95)
    }
    assert lengths[0.0] <= 2
    assert lengths[0.0] < lengths[0.5] < lengths[0.8] < lengths[0.95]
    assert lengths[0.5] >= 4 and lengths[0.95] >= 20
    assert optimal_block_length(np.ones(50)) == 1 and optimal_block_length(np.arange(3.0)) == 1
    assert optimal_block_length(np.arange(100.0)) >= 10  # a trend looks like long memory
    assert optimal_block_length(np.arange(2000.0) % 500) <= int(np.ceil(3 * np.sqrt(2000)))  # capped
    acf = autocorrelation(ar1(5000, 1, 0.7, np.random.default_rng(0))[:, 0], 3)
    assert acf[0] == 1 and acf[1:] == pytest.approx([0.7, 0.49, 0.343], abs=0.04)


def test_pc1_block_length_ignores_the_annual_cycle():
    rng = np.random.default_rng(2)
    doy = np.arange(1, 366)
    cycle = np.cos(2 * np.pi * (doy - 15) / DAYS_PER_YEAR)
    x = 4.0 * cycle[:, None] * rng.uniform(1, 2, 30) + rng.standard_normal((365, 30))
    assert pc1_block_length(x, doy) <= 3  # white anomalies about the planted cycle
    assert pc1_block_length(x) >= 30  # the cycle itself looks like long memory
    x_ar = 4.0 * cycle[:, None] * rng.uniform(1, 2, 30) + ar1(365, 1, 0.9, rng) @ rng.uniform(1, 2, (1, 30))
    assert pc1_block_length(x_ar, doy) >= 10


def test_circular_blocks_are_consecutive_rows():
    idx = circular_block_indices(10, 4, 50, 0)
    assert idx.shape == (50, 10)
    for row in idx:
        for b in range(3):
            block = row[4 * b : 4 * b + 4]
            assert np.all(np.diff(block) % 10 == 1)
    assert np.array_equal(idx, circular_block_indices(10, 4, 50, 0))
    with pytest.raises(ValueError, match="block length"):
        circular_block_indices(10, 11, 5, 0)


def test_block_bootstrap_fast_path_equals_the_naive_loop():
    rng = np.random.default_rng(0)
    x = ar1(60, 3, 0.8, rng) @ rng.standard_normal((3, 40)) + 0.5 * rng.standard_normal((60, 40))
    fast = bootstrap_pca_stability(x, n_boot=30, k=3, seed=4, block=6)
    naive = bootstrap_pca_stability_naive(x, n_boot=30, k=3, seed=4, block=6)
    np.testing.assert_allclose(fast.abs_cos, naive.abs_cos, atol=1e-9)
    np.testing.assert_allclose(fast.angles_deg, naive.angles_deg, atol=1e-6)
    assert fast.block == 6
    iid = bootstrap_pca_stability(x, n_boot=30, k=3, seed=4)
    np.testing.assert_allclose(iid.abs_cos, bootstrap_pca_stability_naive(x, n_boot=30, k=3, seed=4).abs_cos, atol=1e-9)
    assert iid.block is None


def test_block_bootstrap_interval_is_wider_on_autocorrelated_data():
    """Two slowly varying factors of similar variance: PC1 and PC2 mix from sample to sample."""
    rng = np.random.default_rng(1)
    n, p = 365, 60
    factors = ar1(n, 2, 0.95, rng) * np.array([1.2, 1.0])
    x = factors @ rng.standard_normal((2, p)) + rng.standard_normal((n, p))
    block = optimal_block_length(bootstrap_pca_stability(x, n_boot=1, k=1).full_components[0] @ x.T)
    assert block >= 15
    iid = bootstrap_pca_stability(x, n_boot=400, k=2, seed=0)
    blk = bootstrap_pca_stability(x, n_boot=400, k=2, seed=0, block=block)
    width_iid = np.diff(iid.abs_cos_ci, axis=1).ravel()
    width_blk = np.diff(blk.abs_cos_ci, axis=1).ravel()
    assert np.all(width_blk > 1.5 * width_iid)
    assert blk.abs_cos_mean[0] < iid.abs_cos_mean[0]


# ----------------------------------------------------------------------------- datasets, rows, figures


def pooled_year(seed: int = 0, n_channels: int = 16) -> xr.Dataset:
    """Daily pooled latents of 2005 (``(date, region, latent_level, stat, channel)``): an
    annual cycle plus AR(1) weather (phi 0.8)."""
    times = pd.date_range("2005-01-01T06", "2005-12-31T06", freq="D")
    meta = date_metadata(times)
    rng = np.random.default_rng(seed)
    doy = np.asarray(meta["day_of_year"], dtype=float)
    cycle = np.cos(2 * np.pi * (doy - 15) / DAYS_PER_YEAR)
    levels = ["surface", "atmos_1"]
    shape = (len(times), 1, len(levels), 1, n_channels)
    weather = ar1(len(times), int(np.prod(shape[1:])), 0.8, rng).reshape(shape)
    values = 3.0 * cycle[:, None, None, None, None] * rng.uniform(1, 2, size=shape[1:]) + weather
    return xr.Dataset(
        {"pooled": (("date", "region", "latent_level", "stat", "channel"), values.astype(np.float32))},
        coords={
            "date": times.values,
            "region": ["us"],
            "latent_level": levels,
            "stat": ["mean"],
            "channel": np.arange(n_channels),
            **{name: ("date", np.asarray(v)) for name, v in meta.items()},
        },
    )


def storm_runs(pooled: xr.Dataset, starts: list[int], length: int, label: str) -> list[tuple[str, str]]:
    days = pd.DatetimeIndex(pooled["date"].values).normalize()
    return [(f"{days[s + i]:%Y-%m-%d}", label) for s in starts for i in range(length)]


def labels_table(rows: list[tuple[str, str]]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=["date", "label"])
    table["rank"] = table.groupby("label").cumcount() + 1
    table["wind"] = np.where(table["label"] == "storm", 25.0, 5.0)
    table["month"] = pd.to_datetime(table["date"]).dt.month
    table["season"] = "DJF"
    return table


def test_storm_calm_analysis_reports_blocked_beside_published(tmp_path):
    pooled = pooled_year()
    storm = storm_runs(pooled, [5, 30, 60, 100, 150, 200, 250, 300, 330], 3, "storm")
    calm = storm_runs(pooled, [15, 45, 80, 120, 170, 220, 270, 310, 345], 3, "calm")
    labels = labels_table(storm + calm)
    days = pd.DatetimeIndex(pooled["date"].values).normalize()
    is_storm = days.isin(pd.DatetimeIndex([d for d, _ in storm]))
    pooled["pooled"].values[is_storm] += 1.5  # a real storm signal
    report, rows, ds = storm_calm_analysis(
        pooled, labels, "us", None, n_permutations=200, k=5, cv_blocking="episode", cv_gap_days=3
    )
    metrics = [r["metric"] for r in rows]
    assert metrics[:10] == [
        "storm_calm_auc", "storm_calm_auc_blocked", "storm_calm_balanced_accuracy",
        "storm_calm_balanced_accuracy_blocked", "storm_calm_perm_p", "storm_calm_perm_p_block",
        "storm_calm_linearly_separable", "storm_calm_contrastive_auc", "storm_calm_contrastive_auc_blocked",
        "storm_calm_residualised_auc",
    ]  # fmt: skip
    assert metrics[10] == "storm_calm_residualised_auc_blocked"
    table = headline_rows(rows).set_index("metric")
    for m in ("storm_calm_auc_blocked", "storm_calm_balanced_accuracy_blocked", "storm_calm_residualised_auc_blocked"):
        row = table.loc[m]
        assert row["ci_low"] <= row["value"] <= row["ci_high"] and row["n"] == 54 and row["note"] == ""
    # the planted shift is found once the annual cycle is removed in-fold, blocked or not;
    # without that, the cycle hides it from blocked folds, while shuffled folds of single
    # days still score high by matching each test day with its neighbours of the same run
    assert table.loc["storm_calm_residualised_auc_blocked", "value"] > 0.9
    assert table.loc["storm_calm_auc", "value"] > table.loc["storm_calm_auc_blocked", "value"] + 0.2
    assert report.blocked.n_storm_episodes == 9 and report.blocked.n_calm_episodes == 9
    assert report.blocked.n_blocks == 18 and report.blocked.kind == "episode"
    flat = report.to_dict()
    assert flat["storm_calm_n_blocks"] == 18 and flat["storm_calm_cv_blocking"] == "episode"
    json.dumps(flat, default=float)
    assert ds["cv_score"].sel(cv="blocked", statistic="auc") == pytest.approx(report.blocked.auc.value)
    assert ds.attrs["perm_p_block"] == report.blocked.perm_p == flat["storm_calm_perm_p_block"]
    write_netcdf(ds, tmp_path / "sc.nc")
    with xr.open_dataset(tmp_path / "sc.nc") as back:
        fig = rf.plot_storm_calm_dataset(back)
    assert len(fig.axes) == 3
    assert "blocked by episode, gap 3 d" in [t.get_text() for t in fig.axes[2].get_legend().get_texts()]
    assert "features shifted circularly" in fig.axes[2].get_title()
    assert flat["storm_calm_perm_p_block_null"] == "circular_shift"
    assert "storm_calm_auc" in flat["storm_calm_published"]
    assert "storm_calm_auc_blocked" not in flat["storm_calm_published"]
    assert flat["storm_calm_residualised_auc_blocked_fit"] == "all dates"
    # the published statistics are those computed without blocking
    plain, plain_rows, plain_ds = storm_calm_analysis(pooled, labels, "us", None, n_permutations=200, k=5)
    assert (plain.auc, plain.perm_p, plain.residualised_auc) == (report.auc, report.perm_p, report.residualised_auc)
    assert plain.blocked is None
    assert not any("block" in r["metric"] for r in plain_rows)
    assert np.all(np.isnan(plain_ds["cv_score"].sel(cv="blocked").values))
    assert "regimes.cv_blocking: none" in str(plain_ds["cv_score_note"].sel(cv="blocked", statistic="auc").values)


def test_storm_calm_blocked_not_applicable_with_few_episodes():
    pooled = pooled_year()
    labels = labels_table(storm_runs(pooled, [10], 8, "storm") + storm_runs(pooled, [40, 60], 5, "calm"))
    report, rows, ds = storm_calm_analysis(
        pooled, labels, "us", None, n_permutations=50, cv_blocking="week", cv_gap_days=2
    )
    rows = {r["metric"]: r for r in rows}
    assert np.isfinite(rows["storm_calm_auc"]["value"])
    for m in ("storm_calm_auc_blocked", "storm_calm_perm_p_block", "storm_calm_contrastive_auc_blocked"):
        assert rows[m]["value"] is None and "weeks holding days of each class" in rows[m]["note"]
    assert "storm_calm_auc_blocked" in report.not_applicable and report.blocked.auc is None
    headline_rows(rows.values())
    fig = rf.plot_storm_calm_dataset(ds)
    assert "n/a" in [t.get_text() for t in fig.axes[2].texts]


def test_bootstrap_dataset_with_blocks(tmp_path):
    pooled = pooled_year(n_channels=8)
    ds, _ = bootstrap_dataset(pooled, "us", None, n_boot=200, k=3, seed=0, block="auto")
    assert ds.attrs["block_length"] >= 5 and "Politis" in ds.attrs["block_rule"]
    rows = bootstrap_headline(ds)
    assert [r["metric"] for r in rows] == [
        "pc1_bootstrap_cos", "pc2_bootstrap_cos", "pc3_bootstrap_cos", "pc1_3_subspace_max_angle_deg",
        "pc1_bootstrap_cos_block", "pc2_bootstrap_cos_block", "pc3_bootstrap_cos_block",
        "pc1_3_subspace_max_angle_deg_block",
    ]  # fmt: skip
    table = headline_rows(rows).set_index("metric")
    assert table.loc["pc1_bootstrap_cos_block", "ci_low"] <= table.loc["pc1_bootstrap_cos", "ci_low"]
    fixed, _ = bootstrap_dataset(pooled, "us", None, n_boot=50, k=3, seed=0, block=9)
    assert fixed.attrs["block_length"] == 9
    plain, _ = bootstrap_dataset(pooled, "us", None, n_boot=50, k=3, seed=0, block="none")
    assert "abs_cos_block" not in plain and len(bootstrap_headline(plain)) == 4
    np.testing.assert_array_equal(plain["abs_cos"].values, fixed["abs_cos"].values)  # i.i.d. values unchanged
    with pytest.raises(ValueError, match="regimes.bootstrap_block"):
        bootstrap_dataset(pooled, "us", None, n_boot=50, block=0)
    write_netcdf(ds, tmp_path / "boot.nc")
    with xr.open_dataset(tmp_path / "boot.nc") as back:
        fig = rf.plot_bootstrap_dataset(back)
    assert len(fig.axes) == 3
    assert f"blocks of {ds.attrs['block_length']} days" in fig.texts[0].get_text()


# ----------------------------------------------------------------------------- calibrated nulls


def seasonal_labels(n: int, n_each: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rows and 0/1 labels of the ``n_each`` windiest and calmest days of a seasonal wind index."""
    t = np.arange(n)
    wind = np.cos(2 * np.pi * t / DAYS_PER_YEAR) + 0.7 * ar1(n, 1, 0.7, rng)[:, 0]
    order = np.argsort(wind)
    pos = np.sort(np.r_[order[-n_each:], order[:n_each]])
    return pos, np.isin(pos, order[-n_each:]).astype(int)


def test_circular_shift_null_is_calibrated_where_within_fold_permutations_are_not():
    # the null: 100 AR(1) features (phi 0.9) independent of labels that are the 30
    # windiest and 30 calmest days of a seasonal wind index; blocked folds, 3-day gap
    rng = np.random.default_rng(22)
    realisations, old, new = 24, 0, 0
    with threadpool_limits(1):
        for r in range(realisations):
            x = ar1(365, 100, 0.9, rng)
            pos, y = seasonal_labels(365, 30, rng)
            blocking = TimeBlocking("episode", DAY0 + pos, 3)
            old += rcv.permutation_pvalue(x[pos], y, n_permutations=99, seed=r, blocking=blocking).p_value < 0.05
            res = rcv.circular_shift_pvalue(x, pos, y, seed=r, blocking=blocking, min_shift=27, max_shifts=39)
            assert res.null == "circular_shift" and res.n_permutations == 39 and res.min_shift == 27
            new += res.p_value < 0.05
    assert old >= 10  # about 70 % of realisations
    assert new <= 4  # nominal 5 %: 1.2 expected


def test_circular_shift_pvalue_finds_a_real_signal_and_checks_its_shifts():
    rng = np.random.default_rng(5)
    x = ar1(200, 30, 0.5, rng)
    pos, y = seasonal_labels(200, 20, rng)
    x[pos[y == 1], :5] += 1.5
    res = rcv.circular_shift_pvalue(x, pos, y, min_shift=10)
    assert res.observed_auc > 0.9 and res.p_value == pytest.approx(1 / (1 + res.n_permutations))
    assert res.n_permutations == 200 - 2 * 10 + 1
    with pytest.raises(NotApplicableError, match="no circular shift"):
        rcv.circular_shift_pvalue(x, pos, y, min_shift=101)


def test_residualised_auc_keeps_a_non_seasonal_storm_signal():
    # storm days in winter, calm days in summer, features with an annual cycle and a
    # planted storm signal on the storm days only: fitting the harmonics on the labelled
    # training days removes the signal with the season; fitting them on all dates keeps it
    from aurora_xai.regimes.storm_calm import AllDates, storm_calm_report

    rng = np.random.default_rng(7)
    n = 365
    t = np.arange(n)
    x = ar1(n, 40, 0.7, rng) + 2.0 * np.cos(2 * np.pi * t / DAYS_PER_YEAR)[:, None] * rng.standard_normal(40)
    pos, y = seasonal_labels(n, 30, rng)
    x[pos[y == 1], :8] += 1.0
    doy = (t % 365 + 1).astype(float)
    seasons = np.array(["DJF"] * n)
    blocking = TimeBlocking("episode", DAY0 + pos, 3)
    kwargs = dict(n_permutations=20, n_boot=200, include_logistic=False, blocking=blocking)
    infold = storm_calm_report(x[pos], y, doy[pos], seasons[pos], **kwargs)
    everything = AllDates(x=x, positions=pos, day_of_year=doy, decorrelation_days=10)
    alldates = storm_calm_report(x[pos], y, doy[pos], seasons[pos], all_dates=everything, **kwargs)
    assert infold.blocked.residualised_fit == "training folds"
    assert alldates.blocked.residualised_fit == "all dates"
    # measured: 0.651 (all dates) against 0.541 (training folds)
    assert alldates.blocked.residualised_auc.value > 0.6
    assert alldates.blocked.residualised_auc.value > infold.blocked.residualised_auc.value + 0.08
    assert alldates.blocked.perm_null == "circular_shift" and infold.blocked.perm_null == "within_folds"


def test_auto_gap_is_the_decorrelation_length_lowered_only_where_folds_need_it():
    days = DAY0 + np.arange(60)
    y = np.r_[np.ones(30, dtype=int), np.zeros(30, dtype=int)]
    fixed = blocking_of("episode", 5, days)
    assert fixed.gap_days == 5 and fixed.decorrelation_days is None and "fixed" in fixed.gap_rule
    auto = blocking_of("episode", "auto", days, 12)
    assert auto.gap_days == 12 and auto.decorrelation_days == 12 and auto.gap_rule.startswith("auto")
    with pytest.raises(ValueError, match="decorrelation"):
        blocking_of("episode", "auto", days)
    # single-day episodes: a gap as long as the decorrelation length empties a class
    y = np.tile([1, 0], 30)
    big = blocking_of("episode", "auto", days, 40)
    low = big.feasible(y, 5, [0, 1])
    assert low.gap_days < 40 and "lowered" in low.gap_rule
    for s in (0, 1):
        low.folds(y, 5, s)
    assert fixed.feasible(y, 5, [0]) is fixed
