"""Settings of the perturbation experiment and its cases (torch-free).

:class:`PerturbationSettings` is the ``perturbation`` section of the config (defaults:
the schema's), :class:`Case` one entry of ``perturbation.cases`` and :class:`MaskFields`
which fields a mask touches; :func:`check_perturbation_config` checks the section
against the rest of the config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from aurora_xai.data.variables import ATMOS_VARS, SURF_VARS
from aurora_xai.dates import utc_timestamp
from aurora_xai.regions import Region

if TYPE_CHECKING:  # pragma: no cover
    from aurora_xai.settings import Settings

__all__ = [
    "MASK_VALUES",
    "METHODS",
    "RANDOM_KINDS",
    "Case",
    "MaskFields",
    "PerturbationSettings",
    "check_perturbation_config",
    "history_indices",
    "lrp_rule_differences",
]

#: Attribution methods the experiment knows (``random``: seeded random relevance).
METHODS = ("lrp", "input_x_gradient", "integrated_gradients", "random")
#: Random controls.
RANDOM_KINDS = ("scattered", "blobs")
MASK_VALUES = ("normalised_zero", "climatology", "smooth")


@dataclasses.dataclass(frozen=True)
class MaskFields:
    """Which fields a mask touches.

    Args:
        variables: Aurora names of surface and atmospheric variables; ``None``: all.
        levels: Pressure levels (hPa) of the atmospheric variables; ``None``: all.
        history: History steps in hours relative to the batch time; ``None``: all.
    """

    variables: tuple[str, ...] | None = None
    levels: tuple[float, ...] | None = None
    history: tuple[float, ...] | None = None

    @classmethod
    def from_config(cls, variables=None, levels=None, history=None) -> MaskFields:
        return cls(
            None if variables is None else tuple(str(v) for v in variables),
            None if levels is None else tuple(float(v) for v in levels),
            None if history is None else tuple(float(h) for h in history),
        )

    def check(self, batch: Any, step_hours: float = 6.0) -> None:
        known = set(batch.surf_vars) | set(batch.atmos_vars)
        if self.variables is not None:
            bad = sorted(set(self.variables) - known)
            if bad:
                raise KeyError(f"masked variables {bad} not in the batch (it has {sorted(known)})")
        if self.levels is not None:
            have = [float(v) for v in batch.metadata.atmos_levels]
            bad = [v for v in self.levels if v not in have]
            if bad:
                raise KeyError(f"masked levels {bad} hPa not in the batch (it has {have})")
        T = next(iter(batch.surf_vars.values())).shape[1]
        history_indices(self.history, T, step_hours)


def history_indices(hours: Sequence[float] | None, T: int, step_hours: float = 6.0) -> list[int]:
    """Indices into the history axis (oldest first) of steps given in hours (``-6``, ``0``)."""
    if hours is None:
        return list(range(T))
    out = []
    for h in hours:
        k = (T - 1) + float(h) / step_hours
        if not float(k).is_integer() or not 0 <= k < T:
            offsets = [(i - (T - 1)) * step_hours for i in range(T)]
            raise ValueError(f"history step {h} h is not one of the batch's steps {offsets}")
        out.append(int(k))
    return out


@dataclasses.dataclass(frozen=True)
class Case:
    """One perturbation case.

    Args:
        name: Identifier (file names).
        time: The sample's current time (the forecast is valid one step later).
        variable, level: Predicted variable whose degradation is measured (and the
            relevance target's variable); ``level`` in hPa for atmospheric variables.
        target_region: Region of the relevance target (mean of the predicted variable).
        eval_region: Region over which the MSE is taken.
        sector: Region inside which masks are drawn.
    """

    name: str
    time: pd.Timestamp
    variable: str
    level: float | None
    target_region: Region
    eval_region: Region
    sector: Region

    @classmethod
    def from_config(cls, name: str, cfg: Mapping[str, Any], regions: Mapping[str, Region]) -> Case:
        def region(key: str) -> Region:
            rname = cfg[key]
            if rname not in regions:
                raise KeyError(f"perturbation.cases.{name}.{key}: unknown region {rname!r}; defined: {sorted(regions)}")
            return regions[rname]

        level = cfg.get("level")
        return cls(
            name=name,
            time=utc_timestamp(cfg["time"]),
            variable=str(cfg.get("variable", "msl")),
            level=None if level is None else float(level),
            target_region=region("target_region"),
            eval_region=region("eval_region"),
            sector=region("sector"),
        )


@dataclasses.dataclass(frozen=True)
class PerturbationSettings:
    """Settings of the experiment (the ``perturbation`` config section, minus the cases).

    Args:
        fractions: Mask sizes in percent of the sector's cells.
        n_draws: Random masks per fraction and kind.
        seed: Seed of every random choice.
        random_kinds: Random controls to run (``scattered``, ``blobs``).
        methods: Attribution methods.
        mask_value: ``normalised_zero``, ``climatology`` or ``smooth``.
        masked: Which fields the masks touch.
        relevance_variables, relevance_levels, relevance_history: What the masking
            relevance sums over (``None``: all surface and atmospheric variables, all
            levels, both history steps).
        batch_size: Masked copies per forward pass, or ``"auto"`` (sized from the memory
            one copy's forward pass takes and the memory available,
            :func:`~aurora_xai.perturbation.forward.auto_batch_size`); an execution
            setting: results do not depend on it; not read by :meth:`from_config`.
        n_boot: Bootstrap resamples.
        ci_level: Level of the intervals.
        area_weighted: Exact cell-area weights in the MSE (:func:`aurora_xai.grid.lat_weights`).
        relevance_target: ``forecast`` or ``latent`` (the case's relevance target).
        latent_layer: Layer of a latent target.
        attention_rule: LRP rule of the attention (``cp``, ``attnlrp``, ``gradient``).
        epsilon: Epsilon of the LRP rule of linear layers.
        ig_steps: Steps of integrated gradients.
        climatology_window_days: Half-window (days) of the day-of-year climatology fill.
        climatology_exclude_case_year: Leave the case's year out of that climatology.
        smooth_kind, smooth_scale_deg: Smoothing of the ``smooth`` fill.
    """

    fractions: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0)
    n_draws: int = 50
    seed: int = 0
    random_kinds: tuple[str, ...] = RANDOM_KINDS
    methods: tuple[str, ...] = METHODS
    mask_value: str = "normalised_zero"
    masked: MaskFields = MaskFields()
    relevance_variables: tuple[str, ...] | None = None
    relevance_levels: tuple[float, ...] | None = None
    relevance_history: tuple[float, ...] | None = None
    batch_size: int | str = 8
    n_boot: int = 2000
    ci_level: float = 0.95
    area_weighted: bool = False
    relevance_target: str = "forecast"
    latent_layer: str = "backbone"
    attention_rule: str = "cp"
    epsilon: float = 1e-6
    ig_steps: int = 16
    climatology_window_days: int = 15
    climatology_exclude_case_year: bool = True
    smooth_kind: str = "gaussian"
    smooth_scale_deg: float = 9.0

    def __post_init__(self) -> None:
        if not self.fractions or any(not 0 < p <= 100 for p in self.fractions):
            raise ValueError(f"perturbation.fractions: percentages in (0, 100], got {self.fractions}")
        if self.n_draws < 2:
            raise ValueError("perturbation.n_draws: need at least 2 random draws")
        bad = set(self.random_kinds) - set(RANDOM_KINDS)
        if bad or not self.random_kinds:
            raise ValueError(f"perturbation.random_kinds: choose from {RANDOM_KINDS}, got {self.random_kinds}")
        bad = set(self.methods) - set(METHODS)
        if bad or not self.methods:
            raise ValueError(f"perturbation.methods: choose from {METHODS}, got {self.methods}")
        if self.mask_value not in MASK_VALUES:
            raise ValueError(f"perturbation.mask_value: choose from {MASK_VALUES}, got {self.mask_value!r}")
        if self.batch_size != "auto" and (
            isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1
        ):
            raise ValueError(f"perturbation.batch_size: an integer >= 1 or 'auto', got {self.batch_size!r}")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], seed: int) -> PerturbationSettings:
        """From the ``perturbation`` section (``cases``, ``headline_case``, ``lrp_source``
        and the execution key ``batch_size`` are read elsewhere).

        Raises:
            UndeclaredSettingError: a key is missing, naming it.
            ValueError: a value is out of range, naming the key.
        """
        from aurora_xai.settings import require

        def get(key: str) -> Any:
            return require("perturbation", cfg, key)

        rel = get("relevance") or {}
        masked = get("masked") or {}

        def opt(v, f):
            return None if v is None else tuple(f(x) for x in v)

        return cls(
            fractions=tuple(float(p) for p in get("fractions")),
            n_draws=int(get("n_draws")),
            seed=int(seed),
            random_kinds=tuple(get("random_kinds")),
            methods=tuple(get("methods")),
            mask_value=str(get("mask_value")),
            masked=MaskFields.from_config(masked.get("variables"), masked.get("levels"), masked.get("history")),
            relevance_variables=opt(rel.get("variables"), str),
            relevance_levels=opt(rel.get("levels"), float),
            relevance_history=opt(rel.get("history"), float),
            n_boot=int(get("n_boot")),
            ci_level=float(get("ci_level")),
            area_weighted=bool(get("area_weighted")),
            relevance_target=str(get("relevance_target")),
            latent_layer=str(get("latent_layer")),
            attention_rule=str(get("attention_rule")),
            epsilon=float(get("epsilon")),
            ig_steps=int(get("ig_steps")),
            climatology_window_days=int(get("climatology_window_days")),
            climatology_exclude_case_year=bool(get("climatology_exclude_case_year")),
            smooth_kind=str(get("smooth_kind")),
            smooth_scale_deg=float(get("smooth_scale_deg")),
        )


def check_perturbation_config(settings: Settings) -> None:
    """Raise :class:`aurora_xai.config.ConfigError` naming the key if the section is inconsistent.

    Checks the settings, the cases' regions, times and variables and the headline case,
    and that a case's sample time (and its history step) lies in the synthetic store's
    periods when the data are synthetic.
    """
    from aurora_xai.config import ConfigError

    try:
        settings.perturbation  # noqa: B018 - builds and validates the section
    except (ValueError, TypeError) as err:
        raise ConfigError(f"config key 'perturbation': {err}") from err
    try:
        cases = settings.perturbation_cases
    except (KeyError, ValueError) as err:
        raise ConfigError(f"config key 'perturbation.cases': {err}") from err
    headline_case = settings.raw("perturbation.headline_case")
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
    if settings.raw("perturbation.lrp_source") == "rule" and "lrp" in settings.perturbation.methods:
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
    if name not in (settings.raw("attribution.cases") or []):
        return [f"{name!r} is not among attribution.cases (add it there: its storm and case_time are then checked)"]
    attribution = {k: settings.raw(f"attribution.{k}") for k in ATTRIBUTION_KEYS}
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
