"""Checks of the workflow configuration that a JSON schema cannot express.

The schema (``workflow/schemas/config.schema.yaml``) rejects unknown keys and wrong
types and holds every default; :func:`check_config` then builds every section of the
:class:`~aurora_xai.settings.Settings` (each section's own checks run there) and checks
relations between keys (the PCA region exists, the synthetic store covers the dates),
naming the key at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .settings import Settings

__all__ = ["ConfigError", "check_config"]


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key."""


def check_config(config: Settings | Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the key if the (validated) config is inconsistent."""
    import pandas as pd

    settings = config if isinstance(config, Settings) else Settings(config)

    def fail(key: str, msg: str) -> None:
        raise ConfigError(f"config key '{key}': {msg}")

    def build(section: str):
        try:
            return getattr(settings, section)
        except (ValueError, TypeError, KeyError) as err:
            fail(section, str(err))

    dates = build("dates")
    regions = build("regions")
    storms = build("storms")
    for section in ("model", "data", "latents", "pca", "regimes", "attribution", "labels", "download"):
        build(section)
    pca_region = settings.pca.region
    if pca_region not in regions:
        fail("pca.region", f"unknown region {pca_region!r}; defined: {sorted(regions)}")
    data = settings.data
    if settings.download.enabled and data.source == "synthetic":
        fail("download.enabled", "cannot download into the synthetic store; set data.source: weatherbench2")
    if data.source == "synthetic":
        covered = build("synthetic").times()
        needed = dates.times().append(dates.times() - dates.history)
        missing = needed.difference(covered)
        if len(missing):
            fail(
                "dates",
                f"{len(missing)} needed times are outside synthetic.periods, first {missing[0]:%Y-%m-%d %H:%M}",
            )
    for case in settings.raw("attribution.cases"):
        if case not in storms:
            fail("attribution.cases", f"{case!r} is not in storms ({sorted(storms)})")
        if storms[case].case_time is None:
            fail(f"storms.{case}.case_time", "needed for an attribution case")
    for name, storm in (settings.raw("storms") or {}).items():
        for i, fix in enumerate(storm.get("track") or ()):
            try:
                pd.Timestamp(fix["time"])
            except (ValueError, KeyError) as err:
                fail(f"storms.{name}.track[{i}].time", str(err))
    from .perturbation.settings import check_perturbation_config

    check_perturbation_config(settings)
