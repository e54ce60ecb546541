"""Study windows shorter than a year, and windows without enough storm days or dates.

Statistics the data do not allow are reported as not applicable (empty value, the reason
in the note) while the PCA, its figures and every statistic that can be computed are
still produced.
"""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from aurora_xai.dates import date_metadata
from aurora_xai.io import write_csv, write_netcdf
from aurora_xai.regimes import cv as rcv
from aurora_xai.regimes import figures as rf
from aurora_xai.regimes import seasonal as rs
from aurora_xai.regimes.analysis import explained_variance_table, pca_dataset, pca_headline
from aurora_xai.regimes.applicability import NotApplicableError
from aurora_xai.regimes.seasonal import (
    DAYS_PER_YEAR,
    annual_coverage_days,
    annual_harmonic_fit,
    check_annual_coverage,
    season_separation,
)
from aurora_xai.regimes.study import bootstrap_dataset, bootstrap_headline, season_headline, storm_calm_analysis
from aurora_xai.tables import (
    HEADLINE_COLUMNS,
    headline_rows,
    log_headline,
    not_applicable,
    p_floor_text,
    read_headline_parts,
)

LEVELS = ["surface", "atmos_1"]


def pooled_latents(start: str, end: str, n_channels: int = 12, seed: int = 0) -> xr.Dataset:
    """Pooled latents ``(date, region, latent_level, stat, channel)`` of daily 06 UTC dates with a
    planted annual cycle (one channel pattern times the cosine of the day of year) plus noise."""
    times = pd.date_range(f"{start}T06", f"{end}T06", freq="D")
    meta = date_metadata(times)
    rng = np.random.default_rng(seed)
    doy = np.asarray(meta["day_of_year"], dtype=float)
    cycle = np.cos(2 * np.pi * (doy - 15) / DAYS_PER_YEAR)
    shape = (len(times), 1, len(LEVELS), 1, n_channels)
    pattern = rng.uniform(1.0, 2.0, size=shape[1:])
    values = 3.0 * cycle[:, None, None, None, None] * pattern + rng.standard_normal(shape)
    return xr.Dataset(
        {"pooled": (("date", "region", "latent_level", "stat", "channel"), values.astype(np.float32))},
        coords={
            "date": times.values,
            "region": ["us"],
            "latent_level": LEVELS,
            "stat": ["mean"],
            "channel": np.arange(n_channels),
            **{name: ("date", np.asarray(v)) for name, v in meta.items()},
        },
    )


def storm_calm_labels(pooled: xr.Dataset, n_storm: int, n_calm: int) -> pd.DataFrame:
    """A date table with the first ``n_storm`` dates storm and the next ``n_calm`` calm."""
    days = pd.DatetimeIndex(pooled["date"].values).normalize()
    rows = [("storm", d, 25.0 - 0.1 * i) for i, d in enumerate(days[:n_storm])]
    rows += [("calm", d, 5.0 + 0.1 * i) for i, d in enumerate(days[n_storm : n_storm + n_calm])]
    table = pd.DataFrame(rows, columns=["label", "day", "wind"])
    table["day"] = pd.to_datetime(table["day"])
    table["rank"] = table.groupby("label").cumcount() + 1
    return pd.DataFrame(
        {
            "date": table["day"].dt.strftime("%Y-%m-%d"),
            "label": table["label"],
            "rank": table["rank"],
            "wind": table["wind"],
            "season": "DJF",
            "month": table["day"].dt.month,
        }
    )


def planted_storms(pooled: xr.Dataset, labels: pd.DataFrame, shift: float = 3.0) -> xr.Dataset:
    """Add ``shift`` to every feature of the storm days (a separable contrast)."""
    days = pd.DatetimeIndex(pooled["date"].values).normalize()
    storm = days.isin(pd.DatetimeIndex(labels.loc[labels["label"] == "storm", "date"]))
    out = pooled.copy(deep=True)
    out["pooled"].values[storm] += shift
    return out


def _texts(fig) -> str:
    parts = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        parts += [ax.get_title()] + [t.get_text() for t in ax.texts]
    return " ".join(parts)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ----------------------------------------------------------------------------- coverage


def test_annual_coverage_known_spans():
    assert annual_coverage_days([100]) == 0.0
    assert annual_coverage_days(np.arange(1, 32)) == pytest.approx(30.0)
    assert annual_coverage_days(np.arange(1, 366)) == pytest.approx(DAYS_PER_YEAR - 1.2425)
    # one date every three weeks: the largest gap is 21 days (the wrap from day 358 is 8)
    assert annual_coverage_days(np.arange(1, 366, 21)) == pytest.approx(DAYS_PER_YEAR - 21)
    # a window across new year is one span, not two
    assert annual_coverage_days(np.r_[np.arange(350, 366), np.arange(1, 16)]) == pytest.approx(30.2425)
    with pytest.raises(NotApplicableError, match="cover 30 days"):
        check_annual_coverage(np.arange(1, 32))
    with pytest.raises(NotApplicableError, match="too few"):
        check_annual_coverage([1.0, 120.0, 240.0])
    check_annual_coverage(np.arange(1, 220, 3))  # ~7 months: enough
    assert issubclass(NotApplicableError, ValueError)


def test_statistics_raise_not_applicable_for_a_january_window():
    doy = np.arange(1, 32, dtype=float)
    y = np.random.default_rng(0).standard_normal(31)
    with pytest.raises(NotApplicableError, match="annual cycle"):
        annual_harmonic_fit(y, doy)
    # still available on request, as an extrapolation
    assert np.isfinite(annual_harmonic_fit(y, doy, min_span_days=None).amplitude)
    with pytest.raises(NotApplicableError, match="'JJA' has 0 samples"):
        season_separation(y, ["DJF"] * 31)
    x = np.random.default_rng(1).standard_normal((31, 5))
    with pytest.raises(NotApplicableError, match="annual cycle"):
        rs.residualise_annual(x, doy)
    labels = (np.arange(31) % 2).astype(int)
    with pytest.raises(NotApplicableError, match="annual cycle"):
        rcv.cv_classifier_scores(x, labels, k=5, n_repeats=1, n_boot=10, day_of_year=doy)


# ----------------------------------------------------------------------------- headline table


def test_headline_rows_not_applicable_round_trip(tmp_path, caplog):
    how = {"method": "bootstrap, 9 resamples", "n_unit": "dates"}
    rows = [
        {"metric": "a", "value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n": 31, **how, "unit": "K"},
        not_applicable("b", "season 'JJA' has 0 samples, need at least 2", 31, **how),
        {"metric": "c", "value": float("nan"), "n": 3, "note": "too few dates", **how},
    ]
    table = headline_rows(rows)
    assert list(table.columns) == list(HEADLINE_COLUMNS)
    assert list(HEADLINE_COLUMNS[:6]) == ["metric", "value", "ci_low", "ci_high", "n", "note"]
    assert table["note"].tolist() == ["", "season 'JJA' has 0 samples, need at least 2", "too few dates"]
    assert table["unit"].tolist() == ["K", "", ""]
    assert np.isnan(table.loc[1, "value"]) and np.isnan(table.loc[2, "value"])
    write_csv(table, tmp_path / "part.csv")
    text = (tmp_path / "part.csv").read_text().splitlines()
    assert text[0] == "metric,value,ci_low,ci_high,n,note,method,n_unit,unit,calibration"
    assert text[1] == 'a,0.5,0.4,0.6,31,,"bootstrap, 9 resamples",dates,K,'
    assert text[2] == 'b,,,,31,"season \'JJA\' has 0 samples, need at least 2","bootstrap, 9 resamples",dates,,'
    # a part without a note column but with the method still reads
    (tmp_path / "old.csv").write_text("metric,value,ci_low,ci_high,n,method,n_unit\nd,1.5,,,10,in-sample,dates\n")
    both = read_headline_parts([tmp_path / "part.csv", tmp_path / "old.csv"])
    assert both["metric"].tolist() == ["a", "b", "c", "d"]
    assert both["note"].tolist() == ["", "season 'JJA' has 0 samples, need at least 2", "too few dates", ""]
    assert both.loc[3, "value"] == 1.5 and np.isnan(both.loc[1, "value"])
    # a part written before the method column existed is refused, naming the metric
    (tmp_path / "older.csv").write_text("metric,value,ci_low,ci_high,n,note\ne,1.5,,,10,\n")
    with pytest.raises(ValueError, match="'e' has no method and no n_unit"):
        read_headline_parts([tmp_path / "older.csv"])
    with caplog.at_level("INFO"):
        import logging

        log_headline(logging.getLogger("test"), both)
    assert "b: not applicable (n = 31): season 'JJA'" in caplog.text
    assert "a = 0.5 [0.4, 0.6] (n = 31)" in caplog.text


@pytest.mark.parametrize(
    "row, match",
    [
        ({"metric": "x", "value": None}, "no value and no note"),
        ({"metric": "x", "value": float("nan")}, "no value and no note"),
        ({"metric": "x", "value": 1.0, "note": "why"}, "a value"),
        ({"metric": "x", "value": float("inf")}, "not finite"),
        ({"metric": "x", "value": 1.0, "reason": "why"}, "unknown columns"),
        ({"metric": "x", "value": 1.0, "method": None}, "'x' has no method"),
        ({"metric": "x", "value": 1.0, "n_unit": " "}, "'x' has no n_unit"),
    ],
    ids=["none", "nan", "value-and-note", "inf", "unknown-column", "no-method", "no-n-unit"],
)
def test_headline_rows_refuse_unexplained_gaps(row, match):
    row = {"method": "in-sample", "n_unit": "dates", **row}
    with pytest.raises(ValueError, match=match):
        headline_rows([row])


def test_not_applicable_needs_a_reason():
    with pytest.raises(ValueError, match="reason"):
        not_applicable("x", "  ", method="in-sample", n_unit="dates")


def test_p_floor_text():
    assert p_floor_text(1 / 200, 199) == "; p at its floor: p < 1/(B+1) = 0.005 (B = 199)"
    assert p_floor_text(0.02, 199) == ""
    assert p_floor_text(float("nan"), 199) == ""


# ----------------------------------------------------------------------------- PCA


def test_january_pca_is_written_with_annual_fit_not_applicable(tmp_path):
    pooled = pooled_latents("2005-01-01", "2005-01-31")
    pca = pca_dataset(pooled, "us", LEVELS, n_components=5)
    assert pca.sizes["date"] == 31 and pca.sizes["pc"] == 5
    assert np.all(np.isfinite(pca["scores"].values))
    assert np.all(np.isnan(pca["annual_r2"].values)) and np.all(np.isnan(pca["annual_fit"].values))
    assert "30 days of the annual cycle" in pca.attrs["annual_fit_note"]
    write_netcdf(pca, tmp_path / "pca.nc")
    with xr.open_dataset(tmp_path / "pca.nc") as back:
        assert back.attrs["annual_fit_note"] == pca.attrs["annual_fit_note"]
    table = explained_variance_table(pca)
    assert list(table.columns) == [
        "pc", "explained_variance_ratio", "cumulative", "r2", "corr", "amplitude", "phase_day", "note",
    ]  # fmt: skip
    assert table["explained_variance_ratio"].notna().all() and table["r2"].isna().all()
    assert (table["note"] == pca.attrs["annual_fit_note"]).all()

    rows = {r["metric"]: r for r in pca_headline(pca, n_permutations=200)}
    assert list(rows) == [
        "pc1_explained_variance", "pc1_annual_corr", "pc1_annual_r2", "pc1_djf_jja_cohen_d", "pc1_djf_jja_perm_p",
        "pc1_djf_jja_surrogate_p",
    ]  # fmt: skip
    assert 0 < rows["pc1_explained_variance"]["value"] < 1 and rows["pc1_explained_variance"]["n"] == 31
    for m in ("pc1_annual_corr", "pc1_annual_r2"):
        assert rows[m]["value"] is None and "annual cycle" in rows[m]["note"] and rows[m]["n"] == 31
    for m in ("pc1_djf_jja_cohen_d", "pc1_djf_jja_perm_p", "pc1_djf_jja_surrogate_p"):
        assert rows[m]["value"] is None and "'JJA' has 0 samples" in rows[m]["note"]
    headline_rows(rows.values())  # a valid headline table


def test_single_season_window():
    """December (of a leap year) to February: one season, a quarter of the year: no fit, no DJF-JJA."""
    pooled = pooled_latents("2004-12-01", "2005-02-28")
    pca = pca_dataset(pooled, "us", LEVELS, n_components=4)
    assert set(pca["season"].values.tolist()) == {"DJF"}
    assert "88 days" in pca.attrs["annual_fit_note"]
    rows = season_headline(pca, n_permutations=100)
    assert [r["value"] for r in rows] == [None, None, None]
    assert rows[0]["n"] == pca.sizes["date"]


def test_window_of_seven_months_gets_every_statistic():
    pooled = pooled_latents("2005-01-01", "2005-07-31")
    pca = pca_dataset(pooled, "us", LEVELS, n_components=4)
    assert pca.attrs["annual_fit_note"] == ""
    rows = {r["metric"]: r for r in pca_headline(pca, n_permutations=200)}
    assert all(r.get("note") is None and np.isfinite(r["value"]) for r in rows.values())
    assert rows["pc1_annual_corr"]["value"] > 0.9  # the planted cycle
    assert rows["pc1_djf_jja_perm_p"]["value"] < 0.01
    assert explained_variance_table(pca)["note"].eq("").all()


def test_full_year_headline_unchanged_in_form():
    pooled = pooled_latents("2005-01-01", "2005-12-31")
    rows = pca_headline(pca_dataset(pooled, "us", LEVELS, n_components=4), n_permutations=100)
    table = headline_rows(rows)
    assert table["note"].eq("").all() and table["value"].notna().all()
    assert table.set_index("metric").loc["pc1_annual_r2", "value"] > 0.8


# ----------------------------------------------------------------------------- bootstrap


@pytest.mark.parametrize("n_dates, computed", [(2, 0), (3, 2), (31, 3)])
def test_bootstrap_with_few_dates(tmp_path, n_dates, computed):
    pooled = pooled_latents("2005-01-01", "2005-01-31").isel(date=slice(0, n_dates))
    ds, res = bootstrap_dataset(pooled, "us", LEVELS, n_boot=40, k=3, seed=0)
    assert ds.attrs["k_computed"] == computed and ds.sizes["pc"] == 3 and ds.sizes["resample"] == 40
    assert (res is None) == (computed == 0)
    write_netcdf(ds, tmp_path / "boot.nc")
    with xr.open_dataset(tmp_path / "boot.nc") as back:
        rows = bootstrap_headline(back)
        fig = rf.plot_bootstrap_dataset(back)
    assert [r["metric"] for r in rows] == [
        "pc1_bootstrap_cos", "pc2_bootstrap_cos", "pc3_bootstrap_cos", "pc1_3_subspace_max_angle_deg",
    ]  # fmt: skip
    done = [r["value"] is not None for r in rows]
    assert done == [j < computed for j in range(3)] + [computed == 3]
    for r in rows:
        if r["value"] is None:
            assert str(n_dates) in r["note"] and "dates" in r["note"]
        else:
            assert 0 <= r["ci_low"] <= r["value"] <= r["ci_high"] and r["n"] == 40
    headline_rows(rows)
    text = _texts(fig)
    assert ("not applicable" in text) == (computed < 3)
    assert len(fig.axes) == 3


# ----------------------------------------------------------------------------- storm / calm


def test_storm_calm_too_few_days_for_the_folds(tmp_path):
    pooled = pooled_latents("2005-01-01", "2005-01-31")
    labels = storm_calm_labels(pooled, n_storm=3, n_calm=9)
    pooled = planted_storms(pooled, labels)
    report, rows, proj = storm_calm_analysis(pooled, labels, "us", LEVELS, n_permutations=50, k=5, n_pcs=10)
    rows = {r["metric"]: r for r in rows}
    notes, flat = report.not_applicable, report.to_dict()
    for m in ("storm_calm_auc", "storm_calm_balanced_accuracy", "storm_calm_perm_p", "storm_calm_contrastive_auc"):
        assert rows[m]["value"] is None and "at least 5" in rows[m]["note"] and "3 storm" in rows[m]["note"]
        assert m in notes and m not in flat
    assert report.auc is None and report.perm_p is None and report.contrastive_auc is None
    # what does not need folds is computed: the full-space and PC-space separability, in-sample AUC
    assert rows["storm_calm_linearly_separable"]["value"] == 1
    assert rows["storm_calm_contrastive_auc_in_sample"]["value"] == pytest.approx(1.0)
    assert rows["storm_calm_linearly_separable_pc10"]["value"] in (0, 1)
    assert all(r["n"] == 12 for r in rows.values())
    headline_rows(rows.values())
    json.dumps(flat, default=float)
    assert np.all(np.isnan(proj["contrastive_projection"].values)) and "at least 5" in proj.attrs["note"]
    assert np.all(np.isfinite(proj["pc_scores"].values))
    write_netcdf(proj, tmp_path / "sc.nc")
    with xr.open_dataset(tmp_path / "sc.nc") as back:
        fig = rf.plot_storm_calm_dataset(back)
    text = _texts(fig)
    assert "held-out projection: not applicable" in text and "at least 5" in text


def test_storm_calm_without_storm_days(tmp_path):
    pooled = pooled_latents("2005-01-01", "2005-01-31")
    labels = storm_calm_labels(pooled, n_storm=0, n_calm=9)
    report, rows, proj = storm_calm_analysis(pooled, labels, "us", LEVELS, n_permutations=50, k=5)
    assert report.n_storm == 0 and report.n_calm == 9
    assert [r["metric"] for r in rows] == [
        "storm_calm_auc", "storm_calm_balanced_accuracy", "storm_calm_perm_p", "storm_calm_linearly_separable",
        "storm_calm_contrastive_auc", "storm_calm_residualised_auc", "storm_calm_contrastive_auc_in_sample",
        "storm_calm_linearly_separable_pc7",
    ]  # fmt: skip
    assert all(r["value"] is None and "0 storm" in r["note"] for r in rows[:-1])
    table = headline_rows(rows)
    assert table["value"].isna().all() and table["note"].ne("").all()
    write_netcdf(proj, tmp_path / "sc.nc")
    with xr.open_dataset(tmp_path / "sc.nc") as back:
        fig = rf.plot_storm_calm_dataset(back)
    assert "not applicable" in _texts(fig)


def test_storm_calm_without_labelled_days(tmp_path):
    pooled = pooled_latents("2005-01-01", "2005-01-31")
    labels = storm_calm_labels(pooled, n_storm=0, n_calm=0)
    report, rows, proj = storm_calm_analysis(pooled, labels, "us", LEVELS, n_permutations=50, k=5)
    assert report.n == 0
    assert headline_rows(rows)["value"].isna().all()
    assert proj.sizes["day"] == 0
    write_netcdf(proj, tmp_path / "sc.nc")
    with xr.open_dataset(tmp_path / "sc.nc") as back:
        assert back.sizes["day"] == 0
        fig = rf.plot_storm_calm_dataset(back)
    assert "no labelled day" in _texts(fig)


def test_storm_calm_january_with_enough_days():
    """Folds possible, but one month: only the annual residualisation is not applicable."""
    pooled = pooled_latents("2005-01-01", "2005-01-31")
    labels = storm_calm_labels(pooled, n_storm=10, n_calm=12)
    pooled = planted_storms(pooled, labels)
    report, rows, _ = storm_calm_analysis(pooled, labels, "us", LEVELS, n_permutations=50, k=5)
    missing = {r["metric"] for r in rows if r["value"] is None}
    assert missing == {"storm_calm_residualised_auc"}
    assert set(report.not_applicable) == {"storm_calm_residualised_auc", "storm_calm_residualised_perm_p"}
    assert report.auc.value > 0.9 and report.residualised_auc is None


# ----------------------------------------------------------------------------- figures


def test_figures_say_what_is_not_applicable():
    pooled = pooled_latents("2005-01-01", "2005-01-31")
    pca = pca_dataset(pooled, "us", LEVELS, n_components=4)
    fig = rf.plot_pc_through_year_dataset(pca)
    title = fig.axes[0].get_title()
    assert "annual-harmonic fit not applicable" in title and "30 days" in title
    assert len(fig.axes[0].lines) == 0  # no fitted curve drawn
    fig = rf.plot_pc_scatter_by_month(pca["scores"].values, pca["month"].values)
    assert "no dates in MAM, JJA, SON" in fig.axes[0].get_title()
    # a full year: the fit is drawn and nothing is said to be missing
    year = pca_dataset(pooled_latents("2005-01-01", "2005-12-31"), "us", LEVELS, n_components=4)
    fig = rf.plot_pc_through_year_dataset(year)
    assert "not applicable" not in fig.axes[0].get_title() and len(fig.axes[0].lines) >= 1
    fig = rf.plot_pc_scatter_by_month(year["scores"].values, year["month"].values)
    assert "not applicable" not in fig.axes[0].get_title()
