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

import pandas as pd

from .attribution.cases import AttributionCases
from .data.variables import ATMOS_VARS, SURF_VARS
from .perturbation.settings import Case, PerturbationWiring
from .regions import Region
from .settings import Settings

__all__ = [
    "ConfigCheck",
    "ConfigError",
    "check_config",
    "check_model_inputs",
    "check_perturbation_config",
    "check_interventions_config",
    "lrp_rule_differences",
]

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
    for case in settings.view(AttributionCases).cases:
        if case not in storms:
            fail("attribution.cases", f"{case!r} is not in storms ({sorted(storms)})")
        if storms[case].case_time is None:
            fail(f"storms.{case}.case_time", "needed for an attribution case")
    check_perturbation_config(settings)
    check_interventions_config(settings)
    check_surrogate_config(settings)
    check_planted_config(settings)
    return result


def check_planted_config(settings: Settings) -> None:
    """Raise :class:`ConfigError` naming ``probes.quantities`` (or ``interventions.directions``)
    when a term of the synthetic store's planted dynamics is asked for without
    ``data.source: synthetic`` (only that store records them)."""
    from .interventions.directions import PLANTED_DIRECTIONS
    from .probes.targets import PLANTED

    if settings.data.source == "synthetic":
        return
    asked = [q for q in settings.probes.quantities if q in PLANTED]
    if asked:
        raise ConfigError(
            f"config key 'probes.quantities': {asked} are terms of the synthetic store's planted dynamics; "
            f"data.source is {settings.data.source!r}. Remove them for this store"
        )
    asked = [d for d in settings.interventions.directions if d in PLANTED_DIRECTIONS]
    if asked:
        raise ConfigError(
            f"config key 'interventions.directions': {asked} follow the synthetic store's planted dynamics; "
            f"data.source is {settings.data.source!r}. Remove them for this store"
        )


def check_surrogate_config(settings: Settings) -> None:
    """Raise :class:`ConfigError` naming ``surrogate.train_period`` where the surrogate is
    trained (``model.name: surrogate``, ``model.checkpoint`` empty) on a period that
    overlaps the times the study reads (:func:`aurora_xai.surrogate.samples.check_period`)
    or, with synthetic data, lies outside ``synthetic.periods``. (With another store the
    training rule checks that the store holds the period.)"""
    from .model import SURROGATE_CHECKPOINT
    from .surrogate.samples import KEY, check_period

    model = settings.model
    if model.name != "surrogate" or model.checkpoint != SURROGATE_CHECKPOINT:
        return
    try:
        train = settings.surrogate
    except (ValueError, TypeError) as err:
        raise ConfigError(f"config key 'surrogate': {err}") from err
    step = pd.Timedelta(model_step(settings))
    try:
        check_period(train, settings.store_reads, step)
    except ValueError as err:
        raise ConfigError(str(err)) from err
    if settings.data.source == "synthetic":
        needed = pd.date_range(*train.period, freq="6h")
        missing = needed.difference(settings.synthetic.times())
        if len(missing):
            raise ConfigError(
                f"config key '{KEY}': {list(train.train_period)} is not in the synthetic store: {len(missing)} of "
                f"the times its samples read are outside synthetic.periods, first {missing[0]:%Y-%m-%d %H:%M} "
                "(add the period to synthetic.periods)"
            )


def model_step(settings: Settings) -> Any:
    """The configured model's forecast step (``model_inputs(...).timestep``), without building it."""
    from .model import model_inputs

    return model_inputs(settings.model).timestep


def check_interventions_config(settings: Settings) -> None:
    """Raise :class:`ConfigError` naming the key if the ``interventions`` section is
    inconsistent: its region (``interventions.region``, or ``pca.region``) is not among
    ``regions``, or every one of ``interventions.alphas`` is zero."""
    try:
        interventions = settings.interventions
    except (ValueError, TypeError) as err:
        raise ConfigError(f"config key 'interventions': {err}") from err
    regions = settings.regions
    if interventions.region not in regions:
        raise ConfigError(
            f"config key 'interventions.region': unknown region {interventions.region!r}; known: {sorted(regions)}"
        )
    if not any(interventions.alphas):
        raise ConfigError("config key 'interventions.alphas': at least one non-zero alpha is needed")


def check_perturbation_config(settings: Settings) -> None:
    """Raise :class:`ConfigError` naming the key if the ``perturbation`` section is inconsistent.

    Checks the settings, the cases' regions, times and variables and the headline case,
    and that a case's sample time (and its history step) lies in the synthetic store's
    periods when the data are synthetic.
    """
    try:
        settings.perturbation  # noqa: B018 - builds and validates the section
    except (ValueError, TypeError) as err:
        raise ConfigError(f"config key 'perturbation': {err}") from err
    try:
        cases = settings.perturbation_cases
    except (KeyError, ValueError) as err:
        raise ConfigError(f"config key 'perturbation.cases': {err}") from err
    wiring = settings.view(PerturbationWiring)
    headline_case = wiring.headline_case
    if headline_case and headline_case not in cases:
        raise ConfigError(f"config key 'perturbation.headline_case': {headline_case!r} is not a case ({sorted(cases)})")
    history = pd.Timedelta(hours=settings.history_hours)
    covered = settings.synthetic.times() if settings.data.source == "synthetic" else None
    for name, case in cases.items():
        if case.level is None and case.variable not in SURF_VARS:
            raise ConfigError(
                f"config key 'perturbation.cases.{name}.variable': {case.variable!r} is not a surface variable {SURF_VARS}"
            )
        if case.level is not None and case.variable not in ATMOS_VARS:
            raise ConfigError(
                f"config key 'perturbation.cases.{name}.variable': {case.variable!r} is not an atmospheric variable {ATMOS_VARS}"
            )
        if covered is not None:
            missing = pd.DatetimeIndex([case.time - history, case.time]).difference(covered)
            if len(missing):
                raise ConfigError(
                    f"config key 'perturbation.cases.{name}.time': {missing[0]:%Y-%m-%d %H:%M} is outside synthetic.periods"
                )
    if wiring.lrp_source == "rule" and "lrp" in settings.perturbation.methods:
        for name, case in cases.items():
            differences = lrp_rule_differences(settings, name, case)
            if differences:
                raise ConfigError(
                    f"config key 'perturbation.lrp_source': rule reuses results/relevance/{name}.nc, "
                    f"but the compute_relevance rule's LRP of {name!r} is not the one this experiment "
                    f"would compute: {'; '.join(differences)} (align the keys, or set "
                    "perturbation.lrp_source: compute)"
                )


def lrp_rule_differences(settings: Settings, name: str, case: Case) -> list[str]:
    """How the ``compute_relevance`` rule's relevance of ``name`` differs from the LRP the
    perturbation experiment computes for ``case``; empty when it can be reused
    (``perturbation.lrp_source: rule``).

    Compared, each as ``attribution.<key> = ... but perturbation.<key> = ...``: the method
    (LRP), the attention rule and epsilon, the target (``attribution.target``,
    ``target_variable``/``target_level`` or ``latent_layer``, ``target_region``
    against ``perturbation.relevance_target``, the case's variable, level and target
    region or ``perturbation.latent_layer``) and the sample time (``storms.<name>.case_time``
    against the case's ``time``). The relevance's precision (``attribution.dtype``) is
    not compared.
    """
    if name not in settings.view(AttributionCases).cases:
        return [f"{name!r} is not among attribution.cases (add it there: its storm and case_time are then checked)"]
    attribution = {k: getattr(settings.attribution, k) for k in ATTRIBUTION_KEYS}
    pert = settings.perturbation
    event = settings.storm(name)
    region_name = attribution["target_region"]
    regions = settings.regions
    region = event.box if region_name == "box" else regions.get(region_name)
    wanted: dict[str, tuple[str, Any, str, Any]] = {
        "method": ("attribution.method", attribution["method"], "perturbation.methods", "lrp"),
        "attention_rule": (
            "attribution.attention_rule",
            attribution["attention_rule"],
            "perturbation.attention_rule",
            pert.attention_rule,
        ),
        "epsilon": ("attribution.epsilon", float(attribution["epsilon"]), "perturbation.epsilon", float(pert.epsilon)),
        "target": ("attribution.target", attribution["target"], "perturbation.relevance_target", pert.relevance_target),
        "region": (  # compared by their bounds ('box' is the storm's box here, a region there)
            "attribution.target_region",
            _Box(region_name, region),
            f"perturbation.cases.{name}.target_region",
            _Box(case.target_region.name, case.target_region),
        ),
        "time": (f"storms.{name}.case_time", event.case_time, f"perturbation.cases.{name}.time", case.time),
    }
    if pert.relevance_target == "latent":
        wanted["layer"] = (
            "attribution.latent_layer",
            attribution["latent_layer"],
            "perturbation.latent_layer",
            pert.latent_layer,
        )
    else:
        level = attribution["target_level"]
        wanted["variable"] = (
            "attribution.target_variable",
            attribution["target_variable"],
            f"perturbation.cases.{name}.variable",
            case.variable,
        )
        wanted["level"] = (
            "attribution.target_level",
            None if level is None else float(level),
            f"perturbation.cases.{name}.level",
            case.level,
        )
    return [f"{ka} = {_text(a)} but {kb} = {_text(b)}" for ka, a, kb, b in wanted.values() if a != b]


#: The ``attribution`` keys :func:`lrp_rule_differences` compares.
ATTRIBUTION_KEYS = (
    "method",
    "attention_rule",
    "epsilon",
    "target",
    "target_variable",
    "target_level",
    "target_region",
    "latent_layer",
)


@dataclasses.dataclass(frozen=True)
class _Box:
    """A target region for :func:`lrp_rule_differences`: equal when the bounds are."""

    name: str
    region: Region | None

    def bounds(self) -> tuple[float, ...] | None:
        r = self.region
        return None if r is None else (r.lat_min, r.lat_max, r.lon_min, r.lon_max)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Box) and self.bounds() == other.bounds()

    def __str__(self) -> str:
        b = self.bounds()
        where = "not a region" if b is None else f"latitude {b[0]:g} to {b[1]:g}, longitude {b[2]:g} to {b[3]:g}"
        return f"{self.name!r} ({where})"


def _text(value: Any) -> str:
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d %H:%M}"
    return repr(value) if isinstance(value, str) else str(value)
