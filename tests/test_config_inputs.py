"""Inputs from the field that a config check must refuse or convert before any job runs.

Pressure levels and variables without Aurora normalisation statistics, a history
interval other than the model's step, YAML 1.1 number text (``1e-6``), several schema
errors at once, and the workflow started from another folder. The unit tests call
:func:`check_config` and :func:`load_config` on configs written here; the workflow
tests run ``snakemake -n`` on them, as a user would.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import REPO, copy_workflow
from conftest import run_snakemake as snakemake

from aurora_xai.config import ConfigError, check_config
from aurora_xai.model import (
    MODEL_NAMES,
    ModelSpec,
    NormalisationError,
    build_model,
    inputs_of,
    model_inputs,
    normalisation_stats,
)
from aurora_xai.settings import ConfigValidationError, load_config

BASE = REPO / "config" / "config.yaml"
ERA5_LEVELS = (50, 100, 150, 200, 250, 300, 400, 500, 600, 700, 850, 925, 1000)


def _cfg(**sections) -> dict:
    return load_config(BASE, sections)


# --------------------------------------------------------------------------------------
# 1. Levels and variables without normalisation statistics
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_refuses_a_level_without_statistics_naming_key_level_and_supported(name):
    cfg = _cfg(model={"name": name, "random_weights": name != "tiny"}, data={"levels": [250, 500, 850, 975]})
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    msg = str(err.value)
    assert msg.startswith("config key 'data.levels'")
    assert "975 hPa" in msg and "z_975" in msg and "q_975" in msg
    assert repr(name) in msg
    assert "50, 100, 150, 200, 250, 300, 400, 500, 600, 700, 850, 925, 1000 hPa" in msg


def test_every_missing_level_is_named_at_once_and_good_levels_pass():
    with pytest.raises(ConfigError) as err:
        check_config(_cfg(data={"levels": [1, 500, 975, 775]}))
    msg = str(err.value)
    assert "levels 1, 775, 975 hPa" in msg
    assert "500 hPa" not in msg.split(";")[0]  # a level with statistics is not listed as missing
    check_config(_cfg(data={"levels": [250, 500, 850]}))  # a subset of the 13 levels is fine


def test_supported_levels_are_read_from_aurora_s_own_tables():
    """The levels come from aurora.normalisation itself: a level added there becomes valid."""
    from aurora.normalisation import locations, scales

    inputs = model_inputs(ModelSpec.from_schema())
    assert inputs.supported_levels() == tuple(float(v) for v in ERA5_LEVELS)
    added = [f"{v}_975" for v in inputs.atmos_vars]
    try:
        for key in added:
            locations[key], scales[key] = 1.0, 2.0
        assert 975.0 in inputs.supported_levels()
        inputs.check([975])
        assert normalisation_stats("z", 975) == (1.0, 2.0)
    finally:
        for key in added:
            locations.pop(key, None)
            scales.pop(key, None)
    with pytest.raises(NormalisationError):
        inputs.check([975])


def test_variables_without_statistics_are_refused_naming_each():
    inputs = model_inputs(ModelSpec.from_schema())
    with pytest.raises(NormalisationError) as err:
        inputs.check([500], surf_vars=("2t", "sst_x"), static_vars=("lsm", "orog_x"), atmos_vars=("z", "omega_x"))
    assert err.value.key == "model.name"
    for part in ("'sst_x' (surface)", "'orog_x' (static)", "'omega_x' (atmospheric)"):
        assert part in str(err.value)
    # variables with statistics at different levels: no level serves both
    with pytest.raises(
        NormalisationError, match=r"levels 3, 500 hPa \(z_3, tvh_500 .*no level has them for all of z, tvh"
    ):
        inputs.check([3, 500], atmos_vars=("z", "tvh"))


def test_surf_stats_of_the_model_supply_a_surface_variable():
    inputs = model_inputs(ModelSpec.from_schema())
    custom = type(inputs)(**{**inputs.__dict__, "surf_stats": (("sst_x", (290.0, 5.0)),)})
    custom.check([500], surf_vars=("2t", "sst_x"))
    assert custom.stats("sst_x") == (290.0, 5.0)
    assert custom.stats("msl") == normalisation_stats("msl")


def test_model_inputs_read_from_the_class_agree_with_the_built_model():
    """The config check reads the class without building it; the built model must agree."""
    for spec in (ModelSpec.from_schema(), ModelSpec.from_schema(name="small-pretrained", random_weights=True)):
        model = build_model(spec)  # build_model itself raises if they differ
        assert inputs_of(model) == model_inputs(spec)
        assert inputs_of(model).timestep == model.timestep
        del model


def test_normalisation_fill_uses_the_same_lookup_and_error():
    from aurora_xai.attribution._testing import synthetic_batch
    from aurora_xai.perturbation.apply import normalisation_fill

    batch = synthetic_batch(nlat=8, nlon=16, levels=(500, 850))
    fill = normalisation_fill(batch)
    assert float(fill.surf_vars["msl"].flatten()[0]) == pytest.approx(normalisation_stats("msl")[0])
    assert float(fill.atmos_vars["z"][0, 0, 1, 0, 0]) == pytest.approx(normalisation_stats("z", 850)[0])
    fill = normalisation_fill(batch, {"msl": (1.0e5, 1.0e3)})
    assert float(fill.surf_vars["msl"].flatten()[0]) == 1.0e5
    # ARCO-ERA5's 975 hPa read into a batch: the fill stops naming it, not with a bare KeyError
    bad = dataclasses.replace(batch, metadata=dataclasses.replace(batch.metadata, atmos_levels=(500, 975)))
    with pytest.raises(NormalisationError, match=r"z at 975 hPa .*'data.levels'"):
        normalisation_fill(bad)


# --------------------------------------------------------------------------------------
# 2. The history interval against the model's step
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("hours", [1, 3, 12, 24])
def test_history_other_than_the_model_step_is_refused_naming_both_and_the_switch(hours):
    with pytest.raises(ConfigError) as err:
        check_config(_cfg(dates={"history_hours": hours, "start": "2005-01-03"}))
    msg = str(err.value)
    assert msg.startswith("config key 'dates.history_hours'")
    assert f"is {hours} h" in msg and "steps of 6 h" in msg
    assert "dates.allow_history_mismatch" in msg


@pytest.mark.parametrize("name", ["small-pretrained", "pretrained", "finetuned"])
def test_history_check_holds_for_every_model(name):
    cfg = _cfg(model={"name": name, "random_weights": True}, dates={"history_hours": 12, "start": "2005-01-03"})
    with pytest.raises(ConfigError, match="dates.history_hours"):
        check_config(cfg)


def test_allowed_history_mismatch_is_warned_about_and_reported(caplog):
    cfg = _cfg(dates={"history_hours": 12, "start": "2005-01-03", "allow_history_mismatch": True})
    with caplog.at_level("WARNING", logger="aurora_xai.config"):
        result = check_config(cfg)
    assert result.history_mismatch and result.history_hours == 12 and result.model_step_hours == 6
    assert any("12 h" in r.getMessage() and "allow_history_mismatch" in r.getMessage() for r in caplog.records)
    assert result.warnings and "12 h" in result.warnings[0]
    ok = check_config(_cfg())
    assert not ok.history_mismatch and ok.warnings == ()


def test_provenance_and_front_page_record_the_mismatch(tmp_path):
    import pandas as pd

    from aurora_xai.front_page import RunSummary, front_page_rst
    from aurora_xai.provenance import provenance

    mismatched = provenance({"dates": {"history_hours": 12}}, model_step_hours=6.0)
    assert mismatched["model_step_hours"] == "6"
    assert "12 h" in mismatched["history_mismatch"] and "dates.allow_history_mismatch" in mismatched["history_mismatch"]
    matched = provenance({"dates": {"history_hours": 6}}, model_step_hours=6.0)
    assert matched["model_step_hours"] == "6" and "history_mismatch" not in matched
    assert "model_step_hours" not in provenance({"dates": {"history_hours": 6}})

    base = dict(
        model="tiny",
        checkpoint="tiny-random-seed0",
        data_source="synthetic",
        data_path="x.zarr",
        start="2005-01-01",
        end="2005-01-10",
        step_days=1,
        target_hour=6,
        history_hours=12,
        n_dates=10,
        skipped_dates=(),
        tap="backbone",
        config_hash="0" * 16,
        git_commit="abc",
        package_versions={},
        model_step_hours=6.0,
    )
    head = pd.DataFrame({"metric": ["m"], "value": [1.0], "ci_low": [None], "ci_high": [None], "n": [3]})
    text = front_page_rst(RunSummary(**base, history_mismatch=mismatched["history_mismatch"]), head)
    assert ".. warning::" in text and "12 h" in text.split(".. warning::")[1].split("\n\n")[1]
    assert "the model's forecast step: 6 h" in text
    plain = front_page_rst(RunSummary(**{**base, "history_hours": 6}), head)
    assert ".. warning::" not in plain and "forecast step" not in plain  # said only where they differ


# --------------------------------------------------------------------------------------
# 3. YAML 1.1 number text, and every schema error at once
# --------------------------------------------------------------------------------------


def test_number_text_in_number_fields_becomes_a_number_with_a_note(tmp_path, caplog):
    path = tmp_path / "c.yaml"
    path.write_text(
        "attribution:\n  epsilon: 1e-6\nperturbation:\n  epsilon: 1.0e6\n  batch_size: '4'\n"
        "probes:\n  alphas: [1e-3, 1.0, 1e+3]\ndates:\n  shard_size: 1e1\n"
        "regions:\n  box1: {lat_min: 1e1, lat_max: 2.0e1, lon_min: 0, lon_max: 1e2}\n"
    )
    raw = yaml.safe_load(path.read_text())
    assert isinstance(raw["attribution"]["epsilon"], str)  # the YAML 1.1 reading this handles
    with caplog.at_level("WARNING", logger="aurora_xai.settings"):
        cfg = load_config(path)
    assert cfg["attribution"]["epsilon"] == 1e-6 and isinstance(cfg["attribution"]["epsilon"], float)
    assert cfg["perturbation"]["epsilon"] == 1e6
    assert cfg["perturbation"]["batch_size"] == 4 and isinstance(cfg["perturbation"]["batch_size"], int)
    assert cfg["probes"]["alphas"] == [1e-3, 1.0, 1e3]
    assert cfg["dates"]["shard_size"] == 10 and isinstance(cfg["dates"]["shard_size"], int)
    assert cfg["regions"]["box1"]["lat_min"] == 10.0
    notes = [r.getMessage() for r in caplog.records]
    assert any("'attribution.epsilon'" in n and "Write 1.0e-6" in n for n in notes)
    assert any("'perturbation.epsilon'" in n and "Write 1.0e+6" in n for n in notes)
    assert any("'probes.alphas[0]'" in n for n in notes)
    # the config hash sees numbers: the same as the config written with numbers
    from aurora_xai.provenance import config_hash

    good = load_config(
        {
            "attribution": {"epsilon": 1.0e-6},
            "perturbation": {"epsilon": 1.0e6, "batch_size": 4},
            "probes": {"alphas": [0.001, 1.0, 1000.0]},
            "dates": {"shard_size": 10},
            "regions": {"box1": {"lat_min": 10.0, "lat_max": 20.0, "lon_min": 0, "lon_max": 100.0}},
        }
    )
    assert config_hash(cfg) == config_hash(good)


def test_number_text_is_kept_where_text_is_valid_and_refused_where_not_a_number():
    cfg = load_config({"dates": {"start": "2005-01-01"}, "model": {"checkpoint": "1e3"}})
    assert cfg["model"]["checkpoint"] == "1e3"  # a string field keeps its text
    with pytest.raises(ConfigValidationError, match="dates.shard_size"):
        load_config({"dates": {"shard_size": "2.5e0"}})  # not an integer: refused, not rounded
    with pytest.raises(ConfigValidationError, match="attribution.epsilon"):
        load_config({"attribution": {"epsilon": "nan"}})


def test_every_schema_error_is_reported_at_once_each_naming_its_key():
    bad = {
        "latents": {"pool": "max"},
        "dates": {"shard_size": "ten", "step_days": 0},
        "perturbation": {"n_draws": "many", "batch_size": "lots"},
        "data": {"levels": [500, 5000]},
    }
    with pytest.raises(ConfigValidationError) as err:
        load_config(bad)
    msg = str(err.value)
    assert msg.startswith("6 errors in the config")
    for key in (
        "latents.pool",
        "dates.shard_size",
        "dates.step_days",
        "perturbation.n_draws",
        "perturbation.batch_size",
        "data.levels[1]",
    ):
        assert f"config key '{key}'" in msg, key
    assert len(err.value.errors) == 6


# --------------------------------------------------------------------------------------
# Through the workflow: snakemake -n with the bad config fails naming the key
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("wf"))


def _dry_run(workdir: Path, tmp_path: Path, text: str, check: bool = False):
    path = tmp_path / "overlay.yaml"
    path.write_text(text)
    return snakemake(workdir, "-n", "--quiet", "rules", "--nolock", "--configfile", str(path), check=check)


@pytest.mark.workflow
def test_workflow_refuses_a_level_without_statistics(workdir, tmp_path):
    proc = _dry_run(workdir, tmp_path, "data:\n  levels: [250, 500, 850, 975]\n")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "config key 'data.levels'" in out and "975 hPa" in out and "925, 1000 hPa" in out
    assert not (workdir / "results").exists()


@pytest.mark.workflow
def test_workflow_refuses_and_then_allows_a_history_mismatch(workdir, tmp_path):
    proc = _dry_run(workdir, tmp_path, "dates:\n  history_hours: 12\n  start: '2005-01-03'\n")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "config key 'dates.history_hours'" in out and "12 h" in out and "6 h" in out
    proc = _dry_run(
        workdir,
        tmp_path,
        "dates:\n  history_hours: 12\n  start: '2005-01-03'\n  allow_history_mismatch: true\n",
        check=True,
    )
    out = proc.stdout + proc.stderr
    assert "allowed by dates.allow_history_mismatch" in out
    assert "extract_latents" in out


@pytest.mark.workflow
def test_workflow_reads_number_text_and_reports_all_errors_at_once(workdir, tmp_path):
    proc = _dry_run(workdir, tmp_path, "attribution:\n  epsilon: 1e-6\nperturbation:\n  epsilon: 1e-3\n", check=True)
    out = proc.stdout + proc.stderr
    assert "'attribution.epsilon'" in out and "Write 1.0e-6" in out and "'perturbation.epsilon'" in out
    proc = _dry_run(workdir, tmp_path, "latents:\n  pool: max\ndates:\n  shard_size: ten\nseed: x\n")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    for key in ("latents.pool", "dates.shard_size", "seed"):
        assert f"config key '{key}'" in out, key


# --------------------------------------------------------------------------------------
# 4. The workflow started from another folder
# --------------------------------------------------------------------------------------


@pytest.mark.workflow
def test_workflow_plans_from_another_folder_without_configfile(workdir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run(
        ["snakemake", "-n", "--quiet", "rules", "-s", str(workdir / "Snakefile")],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(workdir / "src")},
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "extract_latents" in out and "make_synthetic_era5" in out
    # outputs stay relative to the working directory; nothing is written by a dry run
    assert not (workdir / "results").exists()
    assert not (elsewhere / "results").exists()
    # the schema, scripts, conda environments and report resolve beside the Snakefile
    proc = subprocess.run(
        ["snakemake", "--lint", "-s", str(workdir / "Snakefile")],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(workdir / "src")},
    )
    assert "good condition" in proc.stdout + proc.stderr


@pytest.mark.workflow
def test_workflow_from_another_folder_prefers_the_folder_s_own_config(workdir, tmp_path):
    elsewhere = tmp_path / "deployed"
    (elsewhere / "config").mkdir(parents=True)
    cfg = yaml.safe_load((workdir / "config/config.yaml").read_text())
    cfg["dates"]["shard_size"] = 400  # one extraction job instead of four
    (elsewhere / "config/config.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        ["snakemake", "-n", "--quiet", "rules", "-s", str(workdir / "Snakefile")],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(workdir / "src")},
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("extract_latents"))
    assert int(line.split()[-1]) == 1
