"""The settings layer: defaults only in the schema, typed sections, declared reads."""

from __future__ import annotations

import dataclasses

import pytest

from aurora_xai.data.synthetic import SyntheticSpec
from aurora_xai.dates import DateSpec
from aurora_xai.model import ModelSpec
from aurora_xai.perturbation.settings import PerturbationSettings
from aurora_xai.regimes.settings import RegimeSettings
from aurora_xai.sections import section_defaults
from aurora_xai.settings import (
    EXECUTION_KEYS,
    Settings,
    UndeclaredSettingError,
    from_section,
    leaf_keys,
    load_config,
    select,
)
from aurora_xai.storms.labels import LabelSpec


def test_load_config_fills_every_default_from_the_schema():
    cfg = load_config()
    for key, node in leaf_keys().items():
        if "default" in node:
            value = cfg
            for part in key.split("."):
                value = value[part]
            assert value == node["default"], key


def test_every_leaf_key_has_a_default_and_a_description():
    for key, node in leaf_keys().items():
        assert "default" in node, key
        assert node.get("description"), key


def test_load_config_names_the_bad_key():
    with pytest.raises(ValueError, match="perturbation.n_draws"):
        load_config({"perturbation": {"n_draws": "many"}})
    with pytest.raises(ValueError, match="pool"):
        load_config({"latents": {"pool": "max"}})


def test_overlays_merge_key_by_key():
    cfg = load_config("config/config.yaml", {"perturbation": {"n_draws": 20}})
    assert cfg["perturbation"]["n_draws"] == 20
    assert cfg["perturbation"]["n_boot"] == load_config("config/config.yaml")["perturbation"]["n_boot"]


def test_select_holds_exactly_the_declared_keys_sorted_without_execution_keys():
    cfg = load_config("config/config.yaml")
    part = select(cfg, ["regimes.n_permutations", "model", "seed"])
    assert list(part) == ["model", "regimes", "seed"]
    assert part["regimes"] == {"n_permutations": cfg["regimes"]["n_permutations"]}
    assert "device" not in part["model"] and part["model"]["name"] == cfg["model"]["name"]
    assert list(part["model"]) == sorted(part["model"])
    with pytest.raises(KeyError, match="regimes.nope"):
        select(cfg, ["regimes.nope"])
    for key in EXECUTION_KEYS:
        section = key.split(".")[0]
        assert key.split(".")[1] not in select(cfg, [section])[section]


def test_undeclared_settings_are_refused_naming_the_key():
    cfg = load_config("config/config.yaml")
    s = Settings(select(cfg, ["pca", "seed"]))
    assert s.pca.region == cfg["pca"]["region"] and s.seed == cfg["seed"]
    with pytest.raises(UndeclaredSettingError, match="'regimes'"):
        s.regimes  # noqa: B018
    partial = Settings(select(cfg, ["attribution.method", "attribution.epsilon"]))
    with pytest.raises(UndeclaredSettingError, match="attribution.attention_rule"):
        partial.attribution  # noqa: B018
    assert not hasattr(partial, "raw")  # scripts read typed sections only


def test_a_view_reads_only_its_keys():
    """A rule that declares a few keys of a section reads them through a view of its own."""
    from aurora_xai.regimes.settings import BootstrapSettings

    cfg = load_config("config/config.yaml")
    keys = [f"regimes.{f.name}" for f in dataclasses.fields(BootstrapSettings)]
    s = Settings(select(cfg, keys))
    boot = s.view(BootstrapSettings)
    assert boot.n_bootstrap == cfg["regimes"]["n_bootstrap"]
    assert boot.bootstrap_block == cfg["regimes"]["bootstrap_block"]
    with pytest.raises(UndeclaredSettingError, match="regimes.n_permutations"):
        s.regimes  # noqa: B018
    block = Settings(load_config(None, {"regimes": {"bootstrap_block": 7}})).view(BootstrapSettings).bootstrap_block
    assert block == 7 and isinstance(block, int)


def test_every_view_names_keys_of_its_section():
    """Each per-use view of a section is a subset of the section's schema keys."""
    import importlib

    leaves = leaf_keys()
    for module in (
        "regimes.settings",
        "probes.settings",
        "attribution.cases",
        "attribution.composites",
        "perturbation.settings",
        "surrogate.settings",
    ):
        mod = importlib.import_module(f"aurora_xai.{module}")
        for obj in vars(mod).values():
            if dataclasses.is_dataclass(obj) and isinstance(getattr(obj, "SECTION", None), str):
                for f in dataclasses.fields(obj):
                    key = f"{obj.SECTION}.{f.name}"
                    assert key in leaves, f"{obj.__name__}.{f.name}: {key} is not a schema key"


def test_sections_build_from_the_full_config():
    s = Settings(load_config("config/config.yaml"))
    assert s.dates.shard_size == 92 and s.model.name == "surrogate"
    assert s.surrogate.train_period == ("2004-10-01", "2004-11-30") and s.surrogate.steps > 0
    assert s.perturbation.n_draws == 50 and s.perturbation.ig_steps == 16
    assert s.labels.start == "2005-01-01" and s.labels.end == "2005-12-31"
    assert set(s.perturbation_cases) == {"great_storm_1987"}
    assert s.storm("katrina_2005").case_time is not None


@pytest.mark.parametrize(
    "cls_path",
    [
        "aurora_xai.dates.DateSpec",
        "aurora_xai.attribution.cases.AttributionSettings",
        "aurora_xai.perturbation.settings.PerturbationSettings",
        "aurora_xai.storms.labels.LabelSpec",
        "aurora_xai.data.settings.DataSettings",
        "aurora_xai.data.settings.DownloadSettings",
        "aurora_xai.latents.settings.LatentSettings",
        "aurora_xai.regimes.settings.PCASettings",
        "aurora_xai.regimes.settings.RegimeSettings",
        "aurora_xai.probes.settings.ProbeSettings",
        "aurora_xai.interventions.settings.InterventionSettings",
        "aurora_xai.model.ModelSpec",
        "aurora_xai.regimes.sweep.SweepSettings",
        "aurora_xai.perturbation.settings.MaskFields",
        "aurora_xai.data.synthetic.SyntheticSpec",
        *(
            f"aurora_xai.{module}.{name}"
            for module, names in {
                "regimes.settings": ("PCAFeatures", "PooledFeatures", "BootstrapSettings", "PermutationSettings"),
                "probes.settings": ("ProbeTargetSettings", "ProbeControlSettings"),
                "attribution.cases": ("AttributionCases", "MapSettings"),
                "attribution.composites": ("CompositeSettings",),
                "perturbation.settings": ("PerturbationWiring",),
            }.items()
            for name in names
        ),
        "aurora_xai.regimes.settings.SeparabilitySettings",
        "aurora_xai.regimes.settings.SweepResampling",
    ],
)
def test_sections_have_no_defaults_of_their_own(cls_path):
    """Defaults live in the schema only: a section's dataclass declares none."""
    import importlib

    module, name = cls_path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    with_default = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    ]
    assert not with_default, f"{name} declares defaults for {with_default}; the schema holds them"


def test_section_defaults_build_each_section_as_the_full_config_does():
    # the defaults name region "us" (labels, pca), which the config's regions define
    full = Settings(load_config({"regions": {"us": {"lat_min": 24, "lat_max": 50, "lon_min": 235, "lon_max": 295}}}))
    assert DateSpec.from_config(section_defaults("dates")) == full.dates
    assert LabelSpec.from_config(section_defaults("labels"), full.regions) == full.labels
    assert PerturbationSettings.from_config(section_defaults("perturbation"), full.seed) == full.perturbation
    assert ModelSpec.from_config(section_defaults("model")) == ModelSpec.from_schema() == full.model
    assert SyntheticSpec.from_schema(seed=full.seed) == full.synthetic  # no storms in a defaults-only config
    assert section_defaults("perturbation")["relevance"] == {"variables": None, "levels": None, "history": None}


def test_regime_settings_hold_every_key_of_the_regimes_section():
    fields = {f.name for f in dataclasses.fields(RegimeSettings)}
    assert fields == set(section_defaults("regimes"))
    block = Settings(load_config(None, {"regimes": {"bootstrap_block": 7}})).regimes.bootstrap_block
    assert block == 7 and isinstance(block, int)


@dataclasses.dataclass(frozen=True)
class _Section:
    name: str
    n: int
    scale: float
    on: bool
    levels: tuple[int, ...]
    extra: dict
    level: float | None
    names: tuple[str, ...] | None


def test_from_section_reads_and_converts_every_field_by_its_type():
    sec = {
        "name": None,
        "n": 3,
        "scale": 2,
        "on": 1,
        "levels": [500, "850"],
        "level": None,
        "names": ["a"],
        "ignored": 0,
    }
    out = from_section(_Section, "demo", sec, extra={"a": 1})
    assert out == _Section(
        name="", n=3, scale=2.0, on=True, levels=(500, 850), extra={"a": 1}, level=None, names=("a",)
    )
    assert from_section(_Section, "demo", {**sec, "level": "850"}, extra={}).level == 850.0
    assert isinstance(out.scale, float) and out.levels == (500, 850)
    with pytest.raises(UndeclaredSettingError, match="'demo.levels'"):
        from_section(_Section, "demo", {k: v for k, v in sec.items() if k != "levels"}, extra={})
    with pytest.raises(TypeError, match="'demo.extra'"):
        from_section(_Section, "demo", {**sec, "extra": {}})
