"""Checks of the workflow configuration that a JSON schema cannot express.

The schema (``workflow/schemas/config.schema.yaml``) rejects unknown keys and wrong
types; :func:`check_config` then checks relations between keys (end after start, the
PCA region exists, the synthetic store covers the dates) and names the key at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from .dates import DateSpec
from .model import ModelSpec
from .regions import regions_from_config

__all__ = ["ConfigError", "check_config", "synthetic_spec"]


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key."""


def synthetic_spec(cfg: Mapping[str, Any]):
    """The :class:`~aurora_xai.data.synthetic.SyntheticSpec` described by the config."""
    from .data.synthetic import Storm, SyntheticSpec

    syn = dict(cfg.get("synthetic", {}))
    storms = tuple(Storm.from_config(name, entry) for name, entry in (cfg.get("storms") or {}).items())
    periods = tuple((str(a), str(b)) for a, b in syn.pop("periods", SyntheticSpec.periods))
    return SyntheticSpec(seed=int(cfg.get("seed", 0)), storms=storms, periods=periods, **syn)


def check_config(cfg: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the key if the config is inconsistent."""

    def fail(key: str, msg: str) -> None:
        raise ConfigError(f"config key '{key}': {msg}")

    try:
        dates = DateSpec.from_config(cfg["dates"])
    except (ValueError, TypeError) as err:
        fail("dates", str(err))
    try:
        ModelSpec.from_config(cfg["model"])
    except (ValueError, TypeError) as err:
        fail("model", str(err))
    try:
        regions = regions_from_config(cfg.get("regions") or {})
    except (ValueError, KeyError) as err:
        fail("regions", str(err))
    pca_region = cfg.get("pca", {}).get("region", "globe")
    if pca_region not in regions:
        fail("pca.region", f"unknown region {pca_region!r}; defined: {sorted(regions)}")
    if cfg.get("download", {}).get("enabled") and cfg["data"]["source"] == "synthetic":
        fail("download.enabled", "cannot download into the synthetic store; set data.source: weatherbench2")
    if cfg["data"]["source"] == "synthetic":
        try:
            spec = synthetic_spec(cfg)
        except (ValueError, TypeError, KeyError) as err:
            fail("synthetic", str(err))
        covered = spec.times()
        needed = dates.times().append(dates.times() - dates.history)
        missing = needed.difference(covered)
        if len(missing):
            fail(
                "dates",
                f"{len(missing)} needed times are outside synthetic.periods, first {missing[0]:%Y-%m-%d %H:%M}",
            )
    for name, storm in (cfg.get("storms") or {}).items():
        if "track" not in storm:
            fail(f"storms.{name}.track", "missing")
        for i, fix in enumerate(storm["track"]):
            try:
                pd.Timestamp(fix["time"])
            except (ValueError, KeyError) as err:
                fail(f"storms.{name}.track[{i}].time", str(err))
