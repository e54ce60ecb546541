"""Checks across config keys (aurora_xai.config)."""

from __future__ import annotations

import pytest

from aurora_xai.config import ConfigError, check_config


def _config():
    from aurora_xai.settings import load_config

    return load_config("config/config.yaml")


def test_check_config_names_the_key():
    check_config(_config())
    flipped = {"lat_min": 50, "lat_max": 10, "lon_min": 0, "lon_max": 10}
    for section, key, value, named in [
        ("pca", "region", "atlantis", "pca.region"),
        ("dates", "end", "2004-01-01", "'dates'"),
        ("dates", "end", "2006-01-31", "outside synthetic.periods"),
        ("regions", "flipped", flipped, "regions"),
    ]:
        bad = _config()
        bad[section][key] = value
        with pytest.raises(ConfigError, match=named):
            check_config(bad)
