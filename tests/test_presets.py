"""The presets are overlays of the embedded default: each holds only what differs from it,
the storm catalogue and the regions exist once (in config/config.yaml), and the library's
loader merges them as Snakemake does."""

from __future__ import annotations

import copy

import pytest
import yaml
from presets import DEFAULT, PRESETS, flatten, preset, preset_path
from snakemake.utils import update_config

from aurora_xai.settings import leaf_keys, load_config


def _overlay(name: str) -> dict:
    return yaml.safe_load(preset_path(name).read_text())


@pytest.mark.parametrize("name", PRESETS)
def test_a_preset_holds_only_what_differs_from_the_default(name):
    default = flatten(load_config(DEFAULT))
    overlay = flatten(_overlay(name))
    assert set(overlay) <= set(leaf_keys()), set(overlay) - set(leaf_keys())
    same = sorted(k for k, v in overlay.items() if default.get(k) == v)
    assert not same, f"config/{name}.yaml repeats the default's {same}"


@pytest.mark.parametrize("name", PRESETS)
def test_the_catalogues_exist_once(name):
    """Mappings merge key by key, so an overlay could add storms, regions or cases but
    never remove one: the presets use the default's."""
    overlay = _overlay(name)
    assert "storms" not in overlay and "regions" not in overlay
    assert "cases" not in overlay.get("perturbation", {})
    cfg = preset(name)
    default = load_config(DEFAULT)
    for key in ("storms", "regions"):
        assert cfg[key] == default[key]


@pytest.mark.parametrize("name", PRESETS)
def test_the_loader_merges_a_preset_as_snakemake_does(name):
    """``load_config(config.yaml, preset)`` is the config ``--configfile`` gives the workflow."""
    merged = copy.deepcopy(yaml.safe_load(DEFAULT.read_text()))
    update_config(merged, _overlay(name))
    assert load_config(merged) == preset(name)


def test_the_study_preset_is_the_published_protocol():
    study = preset("study")
    assert study["model"]["name"] == "small-pretrained" and study["data"]["source"] == "weatherbench2"
    assert study["attribution"]["cases"] == ["great_storm_1987"] and study["attribution"]["epsilon"] == 0.25
    assert study["perturbation"]["methods"] == ["lrp"] and study["perturbation"]["fractions"] == [1]
    assert study["latents"]["taps"][-1] == "backbone" and len(study["latents"]["taps"]) == 6
    assert study["labels"]["n_days"] == 30 and study["regimes"]["n_bootstrap"] == 1000
    # The interventions' rank p against random directions can fall below 0.05 only with
    # at least 19 controls; the study has 20.
    assert study["interventions"]["n_random"] >= 20
