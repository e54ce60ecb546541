"""Every path the README documents runs end to end, on small local data.

One run covers the README's "Run the published study on real data": the study preset
(``config/study.yaml``) with ``download.enabled`` copying exactly what the rules read from a
WeatherBench 2-schema store (here a local one the test writes, standing in for the
``gs://`` store): the study's samples, and the 10 m wind at the label hour that the storm
labels read from the downloaded store (``labels.path`` left empty, as in the preset), a model
checkpoint from a file (``model.checkpoint``), and the published defects switched on
(``latents.published_geometry``, ``attribution.attention_rule: gradient``; the study
preset already has the published 10 scattered random masks). The run happens in a
non-UTC process time zone. Only the size is small: sparse dates, the tiny architecture.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr
import yaml
from conftest import REPO, copy_workflow, run_snakemake

pytestmark = pytest.mark.workflow

STEP_DAYS = 20


def _days() -> list[datetime.date]:
    days = {datetime.date(2005, 1, 1) + datetime.timedelta(days=STEP_DAYS * k) for k in range(19)}
    return sorted(days)


@pytest.fixture(scope="module")
def study_run(tmp_path_factory) -> tuple[Path, Path]:
    import torch

    from aurora_xai.data.synthetic import write_synthetic_store
    from aurora_xai.model import ModelSpec, build_model
    from aurora_xai.settings import Settings, load_config

    tmp = tmp_path_factory.mktemp("study")
    workdir = copy_workflow(tmp / "wf")
    # the "remote" WeatherBench 2 store: the sparse 2005 days and the Great Storm
    periods = [[str(d), str(d)] for d in _days()] + [["1987-10-15", "1987-10-16"]]
    remote = tmp / "remote.zarr"
    spec = Settings(load_config(REPO / "config/config.yaml", {"synthetic": {"periods": periods}})).synthetic
    write_synthetic_store(spec, remote)
    # a checkpoint file of the tiny architecture, with weights of another seed
    ckpt = tmp / "tiny-seed7.ckpt"
    torch.save(build_model(ModelSpec.from_schema(name="tiny", seed=7)).state_dict(), ckpt)
    overlay = {
        # the labels read every day of 2005 from the sparse store: days it lacks are
        # skipped and recorded (as they would be for gaps in a real store)
        "data": {"path": "results/data/era5_local.zarr", "on_missing": "skip"},
        "download": {"enabled": True, "method": "weatherbench2", "url": str(remote)},
        "dates": {"step_days": STEP_DAYS, "shard_size": 10},
        "model": {"name": "tiny", "checkpoint": str(ckpt)},
        "latents": {"published_geometry": True},
        # the perturbation reuses the compute_relevance rule's LRP: the same rule for both
        "attribution": {"attention_rule": "gradient"},
        "perturbation": {"attention_rule": "gradient"},
        "regimes": {"n_bootstrap": 100, "n_permutations": 100},
    }
    (workdir / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    run_snakemake(
        workdir,
        "--cores",
        "2",
        "--configfile",
        "config/study.yaml",
        "overlay.yaml",
        timeout=1500,
        env={"TZ": "America/New_York"},
    )
    return workdir, ckpt


def test_the_download_runs_first_and_holds_exactly_the_needed_times(study_run):
    workdir, _ = study_run
    log = (workdir / "logs/download_era5/download_era5.log").read_text()
    assert log.strip()
    record = json.loads((workdir / "results/data/era5_local.zarr.manifest.json").read_text())
    targets = pd.DatetimeIndex([pd.Timestamp(d) + pd.Timedelta(hours=6) for d in _days()])
    want = targets.append(targets - pd.Timedelta(hours=6))
    case = pd.Timestamp("1987-10-16T06:00")
    want = want.append(pd.DatetimeIndex([case - pd.Timedelta(hours=6), case])).sort_values()
    iso = [f"{t:%Y-%m-%dT%H:%M}" for t in want]
    # whole samples: the dates and the case (the labels' other days are not in the sparse store)
    assert sorted(record["variables"]["temperature"]) == iso
    assert sorted(record["variables"]["2m_temperature"]) == iso
    # the labels' 10 m wind at 12 UTC of each day the store has, and nothing else there
    noon = [f"{pd.Timestamp(d) + pd.Timedelta(hours=12):%Y-%m-%dT%H:%M}" for d in _days()]
    assert sorted(record["variables"]["10m_u_component_of_wind"]) == sorted(iso + noon)
    with xr.open_zarr(workdir / "results/data/era5_local.zarr") as ds:
        assert sorted(pd.DatetimeIndex(ds["time"].values)) == sorted(pd.DatetimeIndex(iso + noon))
    labels = json.loads((workdir / "results/labels/storm_days.json").read_text())
    assert labels["path"] == "results/data/era5_local.zarr" and labels["n_days_labelled"] == len(_days())


def test_every_study_output_is_written(study_run):
    workdir, _ = study_run
    for path in (
        "results/tables/headline.csv",
        "results/figures/pca_seasons.png",
        "results/figures/storm_calm.png",
        "results/figures/relevance_maps_great_storm_1987.png",
        "results/figures/perturbation_great_storm_1987.png",
        "results/provenance.json",
    ):
        assert (workdir / path).stat().st_size > 0, path
    table = pd.read_csv(workdir / "results/tables/headline.csv").set_index("metric")
    for metric in ("pc1_explained_variance", "pc1_bootstrap_cos", "perturbation_ratio_p1"):
        assert metric in table.index, metric


def test_the_documented_switches_took_effect(study_run):
    workdir, ckpt = study_run
    with xr.open_dataset(workdir / "results/latents/pooled.nc") as pooled:
        assert pooled.attrs["checkpoint"].startswith(f"file:{ckpt.name}:sha256:")
        assert pooled.attrs["token_geometry"].startswith("published")
    with xr.open_dataset(workdir / "results/relevance/great_storm_1987.nc") as rel:
        assert rel.attrs["attention_rule"] == "gradient"
        assert "latent" in rel.attrs["target"] and rel.attrs["checkpoint"].startswith("file:")
    log = (workdir / "logs/run_perturbation/great_storm_1987.log").read_text()
    assert "LRP relevance from results/relevance/great_storm_1987.nc" in log  # lrp_source: rule
    table = pd.read_csv(workdir / "results/perturbation/great_storm_1987.csv")
    assert set(table["mask_kind"]) == {"scattered"} and set(table["n_draws"]) == {10}
    record = json.loads((workdir / "results/provenance.json").read_text())
    assert record["config"]["download"]["enabled"] is True


def test_a_second_run_is_a_noop(study_run):
    workdir, _ = study_run
    out = run_snakemake(workdir, "-n", "--configfile", "config/study.yaml", "overlay.yaml")
    assert "Nothing to be done" in out.stdout + out.stderr


def test_an_interrupted_run_resumes_to_identical_tables(study_run):
    """Killing Snakemake mid-run leaves a lock; --unlock and the same command finish the
    run, and its tables are identical to the uninterrupted run's."""
    import os
    import shutil
    import signal
    import subprocess
    import time

    workdir, _ = study_run
    tables = {p: p.read_bytes() for p in (workdir / "results").rglob("*.csv") if "data" not in p.parts}
    for sub in (workdir / "results").iterdir():
        if sub.name != "data":
            shutil.rmtree(sub) if sub.is_dir() else sub.unlink()
    args = ["snakemake", "--cores", "2", "--configfile", "config/study.yaml", "overlay.yaml"]
    proc = subprocess.Popen(
        args, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 600
    while not list((workdir / "results/latents/shards").glob("*.nc")) and time.time() < deadline:
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and its jobs, at once
    proc.wait()
    assert list((workdir / ".snakemake/locks").iterdir()), "no lock left behind"
    out = run_snakemake(workdir, "--cores", "2", "--configfile", "config/study.yaml", "overlay.yaml", check=False)
    assert out.returncode != 0 and "unlock" in (out.stdout + out.stderr).lower()
    run_snakemake(workdir, "--unlock", "--configfile", "config/study.yaml", "overlay.yaml")
    run_snakemake(workdir, "--cores", "2", "--configfile", "config/study.yaml", "overlay.yaml", timeout=1500)
    for path, data in tables.items():
        assert path.read_bytes() == data, f"{path.name} differs after the interrupted run"


SHORT_WINDOW = {
    "dates": {"start": "2005-01-01", "end": "2005-01-31", "shard_size": 31},
    # the surrogate's training period stays in the store; a short training keeps the test short
    "synthetic": {
        "periods": [["2004-10-01", "2004-11-30"], ["2004-12-31", "2005-02-01"], ["1987-10-12", "1987-10-20"]]
    },
    "surrogate": {"steps": 40},
    # January of the planted store is windy (median daily maximum 16 m/s in the us box):
    # a calm threshold that leaves both classes at least 5 days
    "labels": {"start": "2005-01-01", "end": "2005-01-31", "calm_threshold": 15.0},
    "attribution": {"cases": ["great_storm_1987"]},
    "regimes": {"n_bootstrap": 100, "n_permutations": 100},
    "perturbation": {"methods": ["lrp", "random"], "fractions": [1], "n_draws": 5},
}


def test_a_window_of_one_month_runs_end_to_end(tmp_path):
    """January only: every output is written; what needs several seasons is reported as
    not applicable, with the reason, instead of failing the run."""
    workdir = copy_workflow(tmp_path / "wf")
    (workdir / "short.yaml").write_text(yaml.safe_dump(SHORT_WINDOW))
    run_snakemake(workdir, "--cores", "2", "--configfile", "config/config.yaml", "short.yaml", timeout=1500)
    table = pd.read_csv(workdir / "results/tables/headline.csv", keep_default_na=False).set_index("metric")
    for metric in ("pc1_annual_r2", "pc1_djf_jja_cohen_d"):
        assert table.loc[metric, "value"] == "" and table.loc[metric, "note"], metric
    for metric in ("pc1_explained_variance", "pc1_bootstrap_cos", "storm_calm_auc"):
        assert table.loc[metric, "value"] != "", metric
    for fig in ("pca_seasons", "pc1_annual_cycle", "storm_calm", "pca_bootstrap"):
        assert (workdir / f"results/figures/{fig}.png").stat().st_size > 10_000, fig
