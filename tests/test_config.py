"""Checks across config keys (aurora_xai.config)."""

from __future__ import annotations

import pytest

from aurora_xai.config import ConfigError, check_config


def _config():
    from aurora_xai.settings import load_config

    return load_config("config/config.yaml")


def test_check_config_names_the_key():
    cfg = _config()
    check_config(cfg)
    bad = _config()
    bad["pca"]["region"] = "atlantis"
    with pytest.raises(ConfigError, match="pca.region"):
        check_config(bad)
    bad = _config()
    bad["dates"]["end"] = "2004-01-01"
    with pytest.raises(ConfigError, match="'dates'"):
        check_config(bad)
    bad = _config()
    bad["dates"]["end"] = "2006-01-31"
    with pytest.raises(ConfigError, match="outside synthetic.periods"):
        check_config(bad)
    bad = _config()
    bad["regions"]["flipped"] = {"lat_min": 50, "lat_max": 10, "lon_min": 0, "lon_max": 10}
    with pytest.raises(ConfigError, match="regions"):
        check_config(bad)
