"""The settings layer: defaults only in the schema, typed sections, declared reads."""

from __future__ import annotations

import dataclasses

import pytest

from aurora_xai.settings import (
    EXECUTION_KEYS,
    Settings,
    UndeclaredSettingError,
    from_section,
    leaf_keys,
    load_config,
    schema_default,
    select,
)


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
    assert partial.raw("attribution.epsilon") == cfg["attribution"]["epsilon"]


def test_sections_build_from_the_full_config():
    s = Settings(load_config("config/config.yaml"))
    assert s.dates.shard_size == 92 and s.model.name == "tiny"
    assert s.perturbation.n_draws == 50 and s.perturbation.ig_steps == 16
    assert s.labels.start == "2005-01-01" and s.labels.end == "2005-12-31"
    assert set(s.perturbation_cases) == {"great_storm_1987"}
    assert s.storm("katrina_2005").case_time is not None


def _defaults_of(cls) -> dict:
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


@pytest.mark.parametrize(
    "cls_path, section, renames, skip",
    [
        ("aurora_xai.dates.DateSpec", "dates", {}, set()),
        ("aurora_xai.model.ModelSpec", "model", {}, set()),
        ("aurora_xai.attribution.cases.AttributionSettings", "attribution", {}, set()),
        (
            "aurora_xai.perturbation.settings.PerturbationSettings",
            "perturbation",
            {
                "seed": "seed",
                "relevance_variables": "perturbation.relevance.variables",
                "relevance_levels": "perturbation.relevance.levels",
                "relevance_history": "perturbation.relevance.history",
            },
            {"masked"},
        ),
        ("aurora_xai.storms.labels.LabelSpec", "labels", {}, {"region", "start", "end"}),
        ("aurora_xai.data.synthetic.SyntheticSpec", "synthetic", {"seed": "seed"}, {"storms", "compress", "periods"}),
    ],
)
def test_remaining_dataclass_defaults_agree_with_the_schema(cls_path, section, renames, skip):
    """Defaults live in the schema; any left on a dataclass must say the same."""
    import importlib

    module, name = cls_path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    for field, default in _defaults_of(cls).items():
        if field in skip:
            continue
        key = renames.get(field, f"{section}.{field}")
        want = schema_default(key)
        got = list(default) if isinstance(default, tuple) else default
        if isinstance(want, list):
            want = [type(g)(w) for g, w in zip(got, want)] if len(got) == len(want) else want
        assert got == want, f"{cls.__name__}.{field} defaults to {default!r}, the schema's {key} to {want!r}"


@dataclasses.dataclass(frozen=True)
class _Section:
    name: str
    n: int
    scale: float
    on: bool
    levels: tuple[int, ...]
    extra: dict


def test_from_section_reads_and_converts_every_field_by_its_type():
    sec = {"name": None, "n": 3, "scale": 2, "on": 1, "levels": [500, "850"], "ignored": 0}
    out = from_section(_Section, "demo", sec, extra={"a": 1})
    assert out == _Section(name="", n=3, scale=2.0, on=True, levels=(500, 850), extra={"a": 1})
    assert isinstance(out.scale, float) and out.levels == (500, 850)
    with pytest.raises(UndeclaredSettingError, match="'demo.levels'"):
        from_section(_Section, "demo", {k: v for k, v in sec.items() if k != "levels"}, extra={})
    with pytest.raises(TypeError, match="'demo.extra'"):
        from_section(_Section, "demo", {**sec, "extra": {}})
