"""The workflow as a user runs it: lint, dry run, bad configs, and the full embedded default."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import copy_workflow, job_counts
from conftest import run_snakemake as snakemake

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("wf"))


def test_lint_is_clean(workdir):
    out = snakemake(workdir, "--lint")
    assert "good condition" in out.stdout + out.stderr


def test_dry_run_lists_the_jobs(workdir):
    out = snakemake(workdir, "-n", "--quiet", "rules")
    text = out.stdout + out.stderr
    for rule in (
        "make_synthetic_era5",
        "train_surrogate",
        "score_surrogate",
        "plot_surrogate_skill",
        "extract_latents",
        "aggregate_latents",
        "fit_pca",
        "plot_pca_seasons",
    ):
        assert rule in text
    cfg = yaml.safe_load((workdir / "config/config.yaml").read_text())
    n_shards = -(-365 // cfg["dates"]["shard_size"])
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("extract_latents"))
    assert int(line.split()[-1]) == n_shards


def _bad_config(workdir: Path, tmp_path: Path, edit) -> str:
    cfg = yaml.safe_load((workdir / "config/config.yaml").read_text())
    edit(cfg)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = snakemake(workdir, "-n", "--configfile", str(path), check=False)
    assert proc.returncode != 0
    return proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda c: c["latents"].update(pool="max"), "pool"),
        (lambda c: c["dates"].update(shard_size="ten"), "shard_size"),
        (lambda c: c["dates"].update(start="2005-06-01", end="2005-01-01"), "dates"),
        (lambda c: c["pca"].update(region="atlantis"), "pca.region"),
        (lambda c: c["model"].update(name="huge"), "huge"),
        (lambda c: c["data"].update(levels=[250, 500, 850, 975]), "config key 'data.levels'"),
        (lambda c: c["dates"].update(history_hours=1), "config key 'dates.history_hours'"),
        (
            lambda c: c["surrogate"].update(train_period=["2004-12-25", "2005-01-05"]),
            "config key 'surrogate.train_period'",
        ),
        (
            lambda c: (c["latents"].update(pool="max"), c["dates"].update(shard_size="ten")),
            ("config key 'latents.pool'", "config key 'dates.shard_size'"),
        ),
    ],
    ids=[
        "unknown-key",
        "wrong-type",
        "end-before-start",
        "unknown-region",
        "unknown-model",
        "level-without-statistics",
        "history-not-the-model-step",
        "surrogate-period-overlaps-the-study",
        "two-errors-at-once",
    ],
)
def test_bad_config_is_rejected_before_any_job(workdir, tmp_path, edit, expected):
    text = _bad_config(workdir, tmp_path, edit)
    for part in expected if isinstance(expected, tuple) else (expected,):
        assert part in text
    assert not (workdir / "results").exists()


def test_default_run_gives_the_seasonal_pc1(default_run):
    table = pd.read_csv(default_run / "results/tables/headline.csv").set_index("metric")
    # the surrogate with the planted dynamics: 0.85 and 0.72 (the tiny random model on the
    # store without them: above 0.9 and 0.8)
    assert table.loc["pc1_annual_corr", "value"] >= 0.8
    assert 0 < table.loc["pc1_explained_variance", "value"] < 1
    assert table.loc["pc1_annual_corr", "n"] == 365
    assert table.loc["pc1_annual_r2", "value"] >= 0.65
    assert table.loc["pc1_bootstrap_cos", "value"] >= 0.95
    for metric in (
        "storm_calm_auc",
        "storm_calm_perm_p",
        "storm_calm_linearly_separable",
        "perturbation_ratio_p1",
        "perturbation_ratio_p1_blobs",
        "lrp_conservation_error_great_storm_1987",
    ):
        assert metric in table.index, metric
    # the LRP curve lies above the random curves at p = 1 %, the interval excluding 1
    assert table.loc["perturbation_ratio_p1", "ci_low"] > 1
    assert table.loc["perturbation_ratio_p1_blobs", "ci_low"] > 1
    for fig in (
        "pca_seasons",
        "pca_scree",
        "pc1_annual_cycle",
        "pca_bootstrap",
        "storm_calm",
        "relevance_maps_great_storm_1987",
        "relevance_profile_katrina_2005",
        "perturbation_great_storm_1987",
    ):
        assert (default_run / f"results/figures/{fig}.png").stat().st_size > 10_000
    for log in ("extract_latents/s000.log", "fit_pca/fit_pca.log"):
        assert (default_run / "logs" / log).read_text().strip()
    assert "done (" in (default_run / "logs/extract_latents/s000.log").read_text()  # progress lines
    assert list((default_run / "benchmarks/extract_latents").glob("*.tsv"))


def test_default_run_reports_interventions_beside_their_random_control(default_run):
    """Each direction's slope per unit push, on every quantity, beside its random control,
    each with an interval over the pushed dates and their number."""
    table = pd.read_csv(default_run / "results/tables/headline.csv").set_index("metric")
    n_dates = 2 * 3  # interventions.dates_per_class storm and calm days
    for direction in ("pc1", "storm_axis"):
        for quantity in ("2t", "msl", "10m_wind_speed"):
            for stat in ("slope", "random_rms_slope", "ratio"):
                row = table.loc[f"intervention_{direction}_{quantity}_{stat}"]
                assert np.isfinite(row["value"]) and row["n"] == n_dates, (direction, quantity, stat)
                assert row["ci_low"] <= row["value"] <= row["ci_high"], (direction, quantity, stat)
            assert table.loc[f"intervention_{direction}_{quantity}_random_rms_slope", "value"] > 0
        assert (default_run / f"results/figures/intervention_{direction}.png").stat().st_size > 10_000
    detail = pd.read_csv(default_run / "results/tables/interventions.csv")
    assert set(detail["n_random"]) == {4} and set(detail["n_dates"]) == {n_dates}
    log = (default_run / "logs/run_interventions/run_interventions.log").read_text()
    assert "[6/6]" in log  # progress lines
    assert (default_run / "benchmarks/run_interventions/run_interventions.tsv").exists()


def test_interventions_batch_size_auto_sizes_from_memory_with_the_same_responses(default_run, monkeypatch, caplog):
    """interventions.batch_size: auto measures one copy's forward pass and chooses the copies
    per pass (at least 2); the responses equal the default run's (16 copies per pass)."""
    import xarray as xr

    from aurora_xai.interventions.study import run_interventions
    from aurora_xai.settings import Settings, load_config

    monkeypatch.chdir(default_run)
    settings = Settings(load_config(default_run / "config/config.yaml"))
    with xr.open_dataset("results/latents/pooled.nc") as ds:
        pooled = ds.load()
    labels = pd.read_csv("results/labels/storm_days.tsv", sep="\t")
    with xr.open_dataset("results/probes/targets.nc") as ds:
        targets = ds.load()  # the planted directions' probe targets
    with caplog.at_level("INFO", logger="aurora_xai"):
        cfg = settings.interventions
        source = settings.data.open(settings.history_hours)
        region = settings.regions[cfg.region]
        auto = run_interventions(
            cfg,
            settings.pca,
            region,
            settings.model,
            source,
            settings.seed,
            pooled,
            labels,
            batch_size="auto",
            targets=targets,
        )
    assert "interventions.batch_size auto: one copy peaks at" in caplog.text
    with xr.open_dataset("results/interventions/interventions.nc") as ref:
        np.testing.assert_allclose(auto["response"].values, ref["response"].values, rtol=1e-4, atol=1e-6)
    assert auto.attrs["forward_passes_per_date"] >= 1


def test_default_run_probes_the_seasonal_temperature(default_run):
    """A linear probe reads the planted seasonal temperature from some tap's latents (R² > 0.8),
    and both controls are reported for that tap, with intervals, on the same dates."""
    table = pd.read_csv(default_run / "results/tables/probes.csv")
    nested = table[table["tap"] == "nested"]
    table = table[table["tap"] != "nested"]
    seasonal = table[table["quantity"].isin(["t2m", "t850"]) & (table["features"] == "latent")]
    best = seasonal.loc[seasonal["r2"].idxmax()]
    assert best["r2"] > 0.8, seasonal
    assert best["ci_low"] <= best["r2"] <= best["ci_high"] and best["n"] == 365
    for features, tap in (("random_model", best["tap"]), ("raw_inputs", "inputs")):
        (row,) = table[
            (table["quantity"] == best["quantity"]) & (table["features"] == features) & (table["tap"] == tap)
        ].itertuples()
        assert row.ci_low <= row.r2 <= row.ci_high and row.n == 365, row
    headline = pd.read_csv(default_run / "results/tables/headline.csv").set_index("metric")
    q = best["quantity"]
    # The headline's tap is chosen inside each training fold, for the random model too.
    assert set(nested["features"]) == {"latent", "random_model"} and nested["taps_chosen"].str.len().gt(0).all()
    for metric in (f"probe_r2_{q}@nested", f"probe_r2_{q}@nested_random", f"probe_r2_{q}_inputs"):
        assert metric in headline.index and pd.notna(headline.loc[metric, "ci_low"]), metric
    assert (default_run / "results/figures/probes.png").stat().st_size > 10_000
    for rule in ("probe_targets", "fit_probes", "extract_random_latents"):
        assert list((default_run / "benchmarks" / rule).glob("*.tsv")), rule


def test_default_run_sweeps_every_tap(default_run):
    """The layer sweep covers every configured tap and agrees with the main-tap headline."""
    from aurora_xai.regimes.sweep import SWEEP_STATISTICS

    cfg = yaml.safe_load((default_run / "config/config.yaml").read_text())
    taps = set(cfg["latents"]["taps"]) | {cfg["latents"]["tap"]}
    sweep = pd.read_csv(default_run / "results/tables/layer_sweep.csv", keep_default_na=False, na_values=[""])
    # the regime statistics (the planted probe quantities' rows beside them are checked below)
    planted = sweep[~sweep["stat"].isin([s.stat for s in SWEEP_STATISTICS])]
    sweep = sweep[sweep["stat"].isin([s.stat for s in SWEEP_STATISTICS])]
    assert set(planted["tap"]) <= taps
    assert set(sweep["tap"]) == taps
    assert sweep.groupby("tap").size().eq(len(SWEEP_STATISTICS)).all()
    assert sweep["depth"].is_monotonic_increasing
    published = sweep[sweep["tap"] == cfg["latents"]["tap"]].set_index("stat")
    assert published["published"].all()
    table = pd.read_csv(default_run / "results/tables/headline.csv").set_index("metric")
    for spec in SWEEP_STATISTICS:
        main, swept = table.loc[spec.stat], published.loc[spec.stat]
        # the same number as the main-tap analysis (both written to 6 significant digits)
        assert swept["value"] == pytest.approx(main["value"], rel=1e-5), spec.stat
        assert swept["ci_low"] <= swept["value"] <= swept["ci_high"], spec.stat
        if pd.notna(main["ci_low"]):  # the AUCs: the same interval as the main row
            assert (swept["ci_low"], swept["ci_high"]) == pytest.approx((main["ci_low"], main["ci_high"]), rel=1e-5)
        row = table.loc[f"sweep_{spec.stat}@{cfg['latents']['tap']}"]
        assert row["value"] == pytest.approx(main["value"], rel=1e-5) and pd.notna(row["ci_low"]), spec.stat
    for tap in taps - {"bottleneck"}:
        assert f"sweep_pc1_annual_r2@{tap}" in table.index, tap
    assert (default_run / "results/figures/layer_sweep.png").stat().st_size > 10_000
    assert (default_run / "benchmarks/layer_sweep/layer_sweep.tsv").is_file()


def test_second_run_is_a_noop(default_run):
    out = snakemake(default_run, "--cores", "2", "-n")
    assert "Nothing to be done" in out.stdout + out.stderr


def test_rerun_from_scratch_is_identical(default_run):
    """A rerun from scratch, in another process time zone, writes identical tables."""
    keep = {p: p.read_bytes() for p in (default_run / "results").rglob("*.csv")}
    keep.update({p: p.read_bytes() for p in (default_run / "results").rglob("*.tsv")})
    assert len(keep) > 10
    for sub in (default_run / "results").iterdir():
        if sub.name != "data":  # everything but the synthetic store (its determinism is a unit test)
            shutil.rmtree(sub) if sub.is_dir() else sub.unlink()
    snakemake(default_run, "--cores", "2", timeout=1800, env={"TZ": "Asia/Tokyo"})
    for path, data in keep.items():
        assert path.read_bytes() == data, f"{path.name} differs after a rerun"


def test_incomplete_shards_are_refused(default_run, tmp_path):
    from aurora_xai.latents.io import combine_shards

    shards = sorted((default_run / "results/latents/shards").glob("*.nc"))
    expected = pd.date_range("2005-01-01T06", "2005-12-31T06", freq="D").astype(str).tolist()
    with pytest.raises(ValueError, match="dates missing: 2005-"):
        combine_shards(shards[1:], expected=expected)


def test_study_preset_dry_run_lists_the_study_jobs(workdir):
    """The published protocol: 365 dates in 12 shards, one LRP case, the regime statistics."""
    out = snakemake(workdir, "-n", "--quiet", "rules", "--configfile", "config/study.yaml")
    counts = job_counts(out)
    assert counts["extract_latents"] == 12
    assert counts["compute_relevance"] == 1
    for rule in (
        "aggregate_latents",
        "fit_pca",
        "bootstrap_pca",
        "label_storm_days",
        "score_storm_calm",
        "collect_headline",
    ):
        assert counts[rule] == 1, rule
    assert "make_synthetic_era5" not in counts  # real data: nothing synthetic is written
    from aurora_xai.settings import load_config

    study = load_config(workdir / "config/config.yaml", workdir / "config/study.yaml")  # as --configfile merges it
    assert study["model"]["name"] == "small-pretrained" and study["regimes"]["n_bootstrap"] == 1000
    assert study["latents"]["tap"] == "backbone" and study["pca"]["region"] == "us"


def test_report_gathers_the_figures(default_run):
    proc = snakemake(default_run, "--report", "report.html")
    text = proc.stdout + proc.stderr
    assert "ERROR" not in text, text[-3000:]
    html = (default_run / "report.html").read_text(errors="replace")
    for name in ("pca_seasons.png", "headline.csv", "relevance_maps_great_storm_1987.png"):
        assert name in html


def test_benchmark_summary(default_run):
    import sys

    out = subprocess.run(
        [sys.executable, str(default_run / "tools/summarise_benchmarks.py"), str(default_run / "benchmarks")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "extract_latents" in out and "peak_rss_mb" in out
