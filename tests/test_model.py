"""The model and its settings (aurora_xai.model)."""

from __future__ import annotations

import pytest
import torch

from aurora_xai.model import ModelSpec, build_model


def test_tiny_model_is_seeded():
    a, b = build_model(ModelSpec.from_schema(seed=3)), build_model(ModelSpec.from_schema(seed=3))
    c = build_model(ModelSpec.from_schema(seed=4))
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_model_spec_from_the_config_section():
    from aurora_xai.settings import UndeclaredSettingError, load_config

    section = {**load_config()["model"], "seed": 2, "device": "cuda"}
    assert ModelSpec.from_config(section) == ModelSpec.from_schema(seed=2)
    with pytest.raises(ValueError, match="unknown keys"):
        ModelSpec.from_config({**section, "sede": 2})
    del section["autocast"]
    with pytest.raises(UndeclaredSettingError, match="model.autocast"):
        ModelSpec.from_config(section)
