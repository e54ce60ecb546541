"""Checks of the workflow configuration that a JSON schema cannot express.

The schema (``workflow/schemas/config.schema.yaml``) rejects unknown keys and wrong
types and holds every default; :func:`check_config` then builds every section of the
:class:`~aurora_xai.settings.Settings` (each section's own checks run there) and checks
relations between keys (the PCA region exists, the synthetic store covers the dates)
and between the config and the model (Aurora has normalisation statistics for every
level and variable of the data; the history interval is the model's step), naming the
key at fault. The workflow runs it once, when it starts (``workflow/rules/common.smk``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from .settings import Settings

__all__ = ["ConfigCheck", "ConfigError", "check_config", "check_model_inputs"]

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key."""


@dataclasses.dataclass(frozen=True)
class ConfigCheck:
    """What :func:`check_config` found beside errors.

    Attributes:
        history_hours: ``dates.history_hours``.
        model_step_hours: The model's forecast step (Aurora's ``timestep``), hours.
        warnings: Settings accepted for an experiment that change what the model sees
            (each also logged): a history interval other than the model's step with
            ``dates.allow_history_mismatch``.
    """

    history_hours: float
    model_step_hours: float
    warnings: tuple[str, ...] = ()

    @property
    def history_mismatch(self) -> bool:
        """Whether the history interval differs from the model's step."""
        return self.history_hours != self.model_step_hours


def check_model_inputs(settings: Settings) -> ConfigCheck:
    """Check the data against the model that will read it, as Aurora defines the model.

    Reads ``model.name`` (each name's Aurora class: its variables, normalisation
    statistics and time step, from :func:`aurora_xai.model.model_inputs`; a checkpoint
    file keeps them), ``data.levels``, ``dates.history_hours`` and
    ``dates.allow_history_mismatch``.

    Returns:
        The history interval against the model's step, and any warning.

    Raises:
        ConfigError: naming ``data.levels`` with the levels lacking statistics and the
            levels the model supports; ``model.name`` for a variable of the data without
            statistics; ``dates.history_hours`` when it is not the model's step, naming
            both values and ``dates.allow_history_mismatch``.
    """
    from .data.variables import ATMOS_VARS, STATIC_VARS, SURF_VARS
    from .model import NormalisationError, model_inputs

    spec = settings.model
    inputs = model_inputs(spec)
    label = f"the model (model.name {spec.name!r}: {inputs.model}{', weights from a file' if spec.checkpoint else ''})"
    try:
        inputs.check(settings.data.levels, SURF_VARS, STATIC_VARS, ATMOS_VARS, label=label)
    except NormalisationError as err:
        raise ConfigError(f"config key '{err.key}': {err}") from None
    dates = settings.dates
    hours, step = float(dates.history_hours), inputs.step_hours
    warnings: list[str] = []
    if hours != step:
        what = (
            f"dates.history_hours is {hours:g} h but {label} forecasts in steps of {step:g} h (its timestep); a batch "
            f"does not carry the interval, so the model would read history steps {hours:g} h apart as "
            f"{step:g} h apart"
        )
        if not dates.allow_history_mismatch:
            raise ConfigError(
                f"config key 'dates.history_hours': {what}. Set dates.history_hours: {step:g}, or "
                "dates.allow_history_mismatch: true to run it as an experiment"
            )
        warnings.append(f"{what}; allowed by dates.allow_history_mismatch: true")
        log.warning("%s", warnings[-1])
    return ConfigCheck(history_hours=hours, model_step_hours=step, warnings=tuple(warnings))


def check_config(config: Settings | Mapping[str, Any]) -> ConfigCheck:
    """Check a (validated) config; raise :class:`ConfigError` naming the key if it is inconsistent.

    Returns:
        What the model checks found (:func:`check_model_inputs`): the history interval
        against the model's step, and warnings about settings allowed for an experiment.
    """
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
    result = check_model_inputs(settings)  # before the checks that depend on the levels and interval
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
    return result
