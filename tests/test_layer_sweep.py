"""The layer sweep on planted data: one tap carries a seasonal and a storm signal, another
carries none; the sweep must rank them, its intervals cover the planted truth, its taps
follow depth, its published tap agree with the main-tap analyses, and bad files fail by name."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from aurora_xai.dates import season_of_month
from aurora_xai.latents.taps import known_taps
from aurora_xai.regimes.analysis import pca_dataset, pca_headline
from aurora_xai.regimes.bootstrap import resample_indices, resampled_pc1_scores
from aurora_xai.regimes.figures import plot_layer_sweep
from aurora_xai.regimes.pca import fit_pca
from aurora_xai.regimes.seasonal import DAYS_PER_YEAR, cohen_d, season_separation
from aurora_xai.regimes.study import storm_calm_analysis
from aurora_xai.regimes.sweep import (
    SWEEP_COLUMNS,
    SweepSettings,
    layer_sweep,
    load_tap_latents,
    sweep_headline,
    sweep_taps,
)
from aurora_xai.sections import schema_default, section_defaults
from aurora_xai.tables import headline_rows

DATES = pd.date_range("2005-01-01T06", "2005-12-31T06", freq="D")
N_CHANNELS = 8
LEVELS = ("surface", "atmos_1")
AMPLITUDE = 3.0  # seasonal amplitude along the planted axis, in noise standard deviations
STORM_SHIFT = 3.0  # storm-day shift along an axis orthogonal to the seasonal one
PEAK_DAY = 15.0  # day of year of the seasonal maximum (mid-January)


def sweep_settings(**changes) -> SweepSettings:
    """The sweep's settings as the schema's defaults give them (``pca``, ``regimes``,
    ``seed``), with ``changes``."""
    pca, regimes = section_defaults("pca"), section_defaults("regimes")
    base = dict(
        region=pca["region"],
        levels=tuple(pca["levels"]),
        standardize=pca["standardize"],
        n_boot=regimes["n_bootstrap"],
        block=regimes["bootstrap_block"],
        cv_folds=regimes["cv_folds"],
        cv_blocking=regimes["cv_blocking"],
        cv_gap_days=regimes["cv_gap_days"],
        seed=schema_default("seed"),
    )
    return SweepSettings(**{**base, **changes})


SETTINGS = sweep_settings(region="us", levels=LEVELS, n_boot=300, block="auto", cv_folds=5, seed=0)


def _seasonal(doy: np.ndarray) -> np.ndarray:
    return AMPLITUDE * np.cos(2 * np.pi * (doy - PEAK_DAY) / DAYS_PER_YEAR)


def _labels() -> pd.DataFrame:
    """30 storm and 30 calm days in runs of 2-3 days spread through the year (not seasonal)."""
    rng = np.random.default_rng(7)
    starts = np.sort(rng.choice(np.arange(0, 360, 6), size=24, replace=False))
    rows = []
    for i, start in enumerate(starts):
        label = "storm" if i % 2 == 0 else "calm"
        for j in range(3 if i < 12 else 2):
            day = DATES[start + j].normalize()
            rows.append({"date": f"{day:%Y-%m-%d}", "label": label})
    table = pd.DataFrame(rows)
    return table


LABELS = _labels()


def _pooled(tap: str, seasonal: bool, storm: bool, seed: int) -> xr.Dataset:
    """Pooled latents ``(date, region, latent_level, stat, channel)`` with planted signals.

    Features (one region, 2 levels x 1 stat x 8 channels = 16) are unit white noise plus,
    if ``seasonal``, the annual cycle along the uniform axis ``l`` and, if ``storm``, a
    shift of storm days along an axis ``m`` orthogonal to ``l``; every feature has the
    same variance, so the z-scoring of the PCA leaves the planted axes in place.
    """
    rng = np.random.default_rng(seed)
    p = len(LEVELS) * N_CHANNELS
    x = rng.normal(size=(len(DATES), p))
    ell = np.ones(p) / np.sqrt(p)
    m = np.tile([1.0, -1.0], p // 2) / np.sqrt(p)
    if seasonal:
        x += _seasonal(DATES.dayofyear.values)[:, None] * ell[None, :]
    if storm:
        storm_days = pd.DatetimeIndex(LABELS.loc[LABELS["label"] == "storm", "date"])
        is_storm = DATES.normalize().isin(storm_days)
        x += STORM_SHIFT * is_storm[:, None] * m[None, :]
    data = x.reshape(len(DATES), 1, len(LEVELS), 1, N_CHANNELS).astype(np.float32)
    months = DATES.month.values
    return xr.Dataset(
        {"pooled": (("date", "region", "latent_level", "stat", "channel"), data)},
        coords={
            "date": DATES.values,
            "month": ("date", months),
            "day_of_year": ("date", DATES.dayofyear.values),
            "season": ("date", np.asarray(season_of_month(months))),
            "region": ["us"],
            "latent_level": list(LEVELS),
            "stat": ["mean"],
            "channel": np.arange(N_CHANNELS),
        },
        attrs={"tap": tap},
    )


def _write(tmp_path: Path, ds: xr.Dataset, name: str) -> Path:
    path = tmp_path / name
    ds.to_netcdf(path)
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> dict[str, Path]:
    """``encoder``: noise only; ``backbone`` (published): the seasonal and the storm signal."""
    tmp = tmp_path_factory.mktemp("sweep")
    return {
        "encoder": _write(tmp, _pooled("encoder", seasonal=False, storm=False, seed=1), "pooled_encoder.nc"),
        "backbone": _write(tmp, _pooled("backbone", seasonal=True, storm=True, seed=2), "pooled.nc"),
    }


@pytest.fixture(scope="module")
def table(planted) -> pd.DataFrame:
    return layer_sweep(planted, LABELS, SETTINGS, published="backbone")


def _row(table: pd.DataFrame, tap: str, stat: str) -> pd.Series:
    (i,) = np.flatnonzero((table["tap"] == tap) & (table["stat"] == stat))
    return table.iloc[i]


def _truth() -> tuple[float, float]:
    """Planted R^2 of PC1's annual fit and DJF-JJA |d| of PC1 (unit noise along the axis)."""
    s = _seasonal(DATES.dayofyear.values)
    r2 = (AMPLITUDE**2 / 2) / (AMPLITUDE**2 / 2 + 1.0)
    seasons = np.asarray(season_of_month(DATES.month.values))
    a, b = s[seasons == "DJF"], s[seasons == "JJA"]
    within = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2) + 1.0
    return r2, abs(a.mean() - b.mean()) / np.sqrt(within)


def test_sweep_table_shape_and_columns(table):
    assert tuple(table.columns) == SWEEP_COLUMNS
    assert table["tap"].tolist() == ["encoder"] * 4 + ["backbone"] * 4
    assert table["depth"].tolist() == [0] * 4 + [4] * 4
    assert table["published"].tolist() == [False] * 4 + [True] * 4
    assert table.loc[table["stat"] == "pc1_annual_r2", "n"].tolist() == [365, 365]
    assert table.loc[table["stat"] == "storm_calm_auc_blocked", "n"].tolist() == [60, 60]
    assert (table["note"] == "").all()
    assert (table["ci_low"] <= table["value"] + 1e-12).all() and (table["value"] <= table["ci_high"] + 1e-12).all()


def test_sweep_ranks_the_planted_tap_and_covers_the_truth(table):
    r2_true, d_true = _truth()
    for stat, truth in (("pc1_annual_r2", r2_true), ("pc1_djf_jja_cohen_d", d_true)):
        sig, null = _row(table, "backbone", stat), _row(table, "encoder", stat)
        assert sig["ci_low"] <= truth <= sig["ci_high"], (stat, truth, sig.to_dict())
        assert null["ci_high"] < sig["ci_low"], stat  # ranked right, intervals apart
    assert _row(table, "encoder", "pc1_annual_r2")["value"] < 0.1
    for stat in ("storm_calm_auc_blocked", "storm_calm_residualised_auc_blocked"):
        sig, null = _row(table, "backbone", stat), _row(table, "encoder", stat)
        assert sig["ci_low"] > 0.9, (stat, sig.to_dict())  # the planted shift: AUC ~ Phi(3/sqrt 2) ~ 0.98
        assert null["ci_low"] <= 0.5 <= null["ci_high"], (stat, null.to_dict())  # chance covered
        assert null["ci_high"] < sig["ci_low"], stat


def test_published_tap_agrees_with_the_main_analyses(planted, table):
    """The sweep's published-tap values are the main-tap headline numbers (and intervals)."""
    pooled = xr.open_dataset(planted["backbone"]).load()
    main = {r["metric"]: r for r in pca_headline(pca_dataset(pooled, "us", list(LEVELS)), n_permutations=10)}
    _, rows, _ = storm_calm_analysis(
        pooled, LABELS, "us", list(LEVELS), n_permutations=10, k=5, cv_blocking="episode", cv_gap_days=3
    )
    main.update({r["metric"]: r for r in rows})
    for stat in (
        "pc1_annual_r2",
        "pc1_djf_jja_cohen_d",
        "storm_calm_auc_blocked",
        "storm_calm_residualised_auc_blocked",
    ):
        got = _row(table, "backbone", stat)
        assert got["value"] == pytest.approx(main[stat]["value"], rel=1e-9), stat
        if "ci_low" in main[stat]:
            assert (got["ci_low"], got["ci_high"]) == pytest.approx((main[stat]["ci_low"], main[stat]["ci_high"]))


def test_shuffled_folds_name_the_published_rows(planted):
    settings = sweep_settings(region="us", levels=LEVELS, n_boot=50, block="none", cv_blocking="none")
    got = layer_sweep({"backbone": planted["backbone"]}, LABELS, settings, published="backbone")
    assert got["stat"].tolist() == [
        "pc1_annual_r2",
        "pc1_djf_jja_cohen_d",
        "storm_calm_auc",
        "storm_calm_residualised_auc",
    ]
    assert got["interval"].iloc[0].endswith("(50 resamples, i.i.d. dates), PCA refitted")


def test_taps_follow_depth_and_bottleneck_aliases_the_deepest_stage(planted, tmp_path):
    shuffled = ["backbone", "bottleneck", "encoder", "backbone.encoder.2", "backbone.encoder.0"]
    assert sweep_taps(shuffled) == [t for t in known_taps() if t in shuffled]
    assert sweep_taps(list(reversed(known_taps()))) == list(known_taps())
    with pytest.raises(ValueError, match="latents.taps: unknown taps \\['decoder'\\]"):
        sweep_taps(["backbone", "decoder"])
    deep = _pooled("backbone.encoder.2", seasonal=True, storm=False, seed=3)
    paths = {
        "backbone": planted["backbone"],
        "bottleneck": _write(tmp_path, deep.assign_attrs(tap="bottleneck"), "pooled_bottleneck.nc"),
        "backbone.encoder.2": _write(tmp_path, deep, "pooled_backbone.encoder.2.nc"),
        "encoder": planted["encoder"],
    }
    settings = sweep_settings(region="us", levels=LEVELS, n_boot=50)
    got = layer_sweep(paths, LABELS, settings, published="backbone")
    assert got["tap"].drop_duplicates().tolist() == ["encoder", "backbone.encoder.2", "bottleneck", "backbone"]
    assert got.groupby("tap", sort=False)["depth"].first().tolist() == [0, 3, 3, 4]
    stage, alias = got[got["tap"] == "backbone.encoder.2"], got[got["tap"] == "bottleneck"]
    assert (alias["same_as"] == "backbone.encoder.2").all() and (stage["same_as"] == "").all()
    np.testing.assert_array_equal(alias["value"].to_numpy(), stage["value"].to_numpy())
    metrics = [r["metric"] for r in sweep_headline(got)]
    assert len(metrics) == 12 and not any(m.endswith("@bottleneck") for m in metrics)
    assert "sweep_pc1_annual_r2@backbone.encoder.2" in metrics
    headline_rows(sweep_headline(got))  # valid headline rows
    # a bottleneck file that is not the encoder stage's output is refused by name
    paths["bottleneck"] = _write(
        tmp_path, _pooled("bottleneck", seasonal=False, storm=False, seed=4), "pooled_bottleneck_other.nc"
    )
    with pytest.raises(ValueError, match="pooled_bottleneck_other.nc: the bottleneck's pooled latents differ"):
        layer_sweep(paths, LABELS, settings, published="backbone")


def test_missing_file_or_other_dates_are_refused_by_name(planted, tmp_path):
    missing = tmp_path / "pooled_backbone.encoder.1.nc"
    with pytest.raises(FileNotFoundError, match="pooled_backbone.encoder.1.nc: no pooled latents of tap"):
        load_tap_latents({"backbone": planted["backbone"], "backbone.encoder.1": missing})
    short = _pooled("encoder", seasonal=False, storm=False, seed=1).isel(date=slice(0, 200))
    short_path = _write(tmp_path, short, "pooled_encoder_short.nc")
    with pytest.raises(ValueError, match="pooled_encoder_short.nc: its 200 dates differ from the 365 of .*pooled.nc"):
        layer_sweep({"backbone": planted["backbone"], "encoder": short_path}, LABELS, SETTINGS, published="backbone")
    with pytest.raises(ValueError, match="holds the pooled latents of tap 'backbone', expected 'encoder'"):
        load_tap_latents({"encoder": planted["backbone"]})
    with pytest.raises(ValueError, match="latents.tap: the published tap 'bottleneck' is not among"):
        layer_sweep({"backbone": planted["backbone"]}, LABELS, SETTINGS, published="bottleneck")


def test_resampled_pc1_scores_equal_a_refitted_pca():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 90))  # p > distinct rows: the Gram-matrix path
    x[:, :5] += 4 * np.sin(np.arange(60) / 9)[:, None]
    for xx in (x, x[:, :20]):  # and p < distinct rows: the scatter-matrix path
        idx = resample_indices(60, 5, seed=1, block=4)
        got = resampled_pc1_scores(xx, idx)
        for b in range(5):
            ref = fit_pca(xx[idx[b]], 1).scores[:, 0]
            np.testing.assert_allclose(np.abs(got[b]), np.abs(ref), atol=1e-9)
            assert abs(np.corrcoef(got[b], ref)[0, 1]) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="indices must be in 0..59"):
        resampled_pc1_scores(x, np.array([[0, 60]]))


def test_cohen_d_matches_the_season_separation():
    rng = np.random.default_rng(3)
    a, b = rng.normal(1.0, 2.0, 40), rng.normal(0.0, 1.0, 25)
    pooled_sd = np.sqrt((39 * a.var(ddof=1) + 24 * b.var(ddof=1)) / 63)
    assert cohen_d(a, b) == pytest.approx((a.mean() - b.mean()) / pooled_sd, rel=1e-12)
    sep = season_separation(np.concatenate([a, b]), ["DJF"] * 40 + ["JJA"] * 25, n_permutations=10)
    assert sep.cohen_d == cohen_d(a, b)
    assert cohen_d([1.0, 1.0], [1.0, 1.0]) == 0.0 and cohen_d([2.0, 2.0], [1.0, 1.0]) == np.inf
    with pytest.raises(ValueError, match="at least 2 values"):
        cohen_d([1.0], [1.0, 2.0])


def test_sweep_figure_has_a_panel_per_statistic(table):
    fig = plot_layer_sweep(table)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert len(axes) == 4
    assert all(ax.get_ylabel() for ax in axes)
    labels = [t.get_text() for t in axes[-1].get_xticklabels()]
    assert labels == ["encoder", "backbone"]
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "published tap (backbone)" in texts
    plt.close(fig)
    with pytest.raises(ValueError, match="unknown statistics \\['pc9'\\]"):
        plot_layer_sweep(table.assign(stat="pc9"))


def test_a_short_window_gives_not_applicable_rows_with_reasons(planted, tmp_path):
    """13 dates a month apart and 3 + 3 labelled days (the rehearsal's shape): the PC1
    statistics are computed, the 5-fold AUCs are not applicable and say why."""
    every_30 = slice(0, 365, 30)
    paths = {
        tap: _write(tmp_path, xr.open_dataset(path).load().isel(date=every_30), f"short_{tap}.nc")
        for tap, path in planted.items()
    }
    days = pd.DatetimeIndex(DATES[every_30]).normalize()
    labels = pd.DataFrame({"date": days[:6].strftime("%Y-%m-%d"), "label": ["storm", "calm"] * 3})
    settings = sweep_settings(region="us", levels=LEVELS, n_boot=100, cv_folds=5)
    got = layer_sweep(paths, labels, settings, published="backbone")
    r2 = _row(got, "backbone", "pc1_annual_r2")
    assert np.isfinite(r2["value"]) and r2["ci_low"] <= r2["value"] <= r2["ci_high"]
    auc = _row(got, "backbone", "storm_calm_auc_blocked")
    assert np.isnan(auc["value"]) and auc["note"] and auc["n"] == 6
    rows = headline_rows(sweep_headline(got)).set_index("metric")
    assert rows.loc["sweep_storm_calm_auc_blocked@backbone", "note"] == auc["note"]
    plt.close(plot_layer_sweep(got))


def test_sweep_figure_adds_a_panel_per_planted_probe(table):
    from aurora_xai.probes.sweep import sweep_probe_rows

    rows = []
    for tap, r2 in (("encoder", 0.3), ("backbone", 0.9)):
        for features, value in (("latent", r2), ("random_model", 0.2)):
            rows.append(
                dict(tap=tap, quantity="planted_tanh_t850", features=features, r2=value, ci_low=value - 0.05,
                     ci_high=value + 0.05, n=365)
            )  # fmt: skip
    rows.append(
        dict(tap="inputs", quantity="planted_tanh_t850", features="raw_inputs", r2=0.5, ci_low=0.45, ci_high=0.55,
             n=365)
    )  # fmt: skip
    full = pd.concat([table, sweep_probe_rows(pd.DataFrame(rows), table)], ignore_index=True)
    fig = plot_layer_sweep(full)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 5 and "planted_tanh_t850" in titles[-1]
    assert [r["metric"] for r in sweep_headline(full) if "probe" in r["metric"]] == [
        "sweep_probe_r2_planted_tanh_t850@encoder",
        "sweep_probe_r2_planted_tanh_t850@backbone",
    ]
    plt.close(fig)
