"""Perturbation tests of attribution faithfulness: mask relevant cells versus random cells.

Public API:

* masks: :func:`relevance_map`, :func:`sector_cells`, :func:`n_cells`, :func:`top_mask`,
  :func:`random_scattered_masks`, :func:`random_blob_masks`, :func:`connected_components`;
* masked values: :func:`normalisation_fill`, :func:`climatology_fill`,
  :func:`smoothed_fill`, :func:`masked_batch`, :class:`MaskFields`;
* metrics: :func:`region_mse`, :func:`bootstrap_ratio`, :func:`aopc`, :func:`aopc_ratio`;
* experiment: :class:`Case`, :class:`PerturbationSettings`, :func:`compute_relevances`,
  :func:`masking_maps`, :func:`run_experiment`, :func:`headline`,
  :func:`benchmark_batched_masks`;
* configuration: :func:`check_perturbation_config`, :func:`cases_from_config`;
* figure: :func:`plot_degradation_curves` (:mod:`aurora_xai.perturbation.figures`).

Every name is imported lazily from its submodule on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .experiment import Case

# Names are imported lazily from their submodules (PEP 562), so that importing
# ``aurora_xai.perturbation.figures`` (the plotting environment has no torch) does not
# import torch through this package.
from aurora_xai._lazy import lazy_exports

_EXPORTS = {
    "apply": (
        "MASK_VALUES",
        "MaskFields",
        "climatology_fill",
        "climatology_times",
        "history_indices",
        "masked_batch",
        "normalisation_fill",
        "smoothed_fill",
    ),
    "experiment": (
        "METHODS",
        "RANDOM_KINDS",
        "TABLE_COLUMNS",
        "Case",
        "PerturbationResult",
        "PerturbationSettings",
        "benchmark_batched_masks",
        "build_fill",
        "compute_relevances",
        "headline",
        "masked_fields",
        "masked_mse",
        "masking_maps",
        "relevance_target",
        "run_case",
        "run_experiment",
        "truth_field",
    ),
    "masks": (
        "connected_components",
        "is_global_longitude",
        "n_cells",
        "random_blob_masks",
        "random_relevance_map",
        "random_scattered_masks",
        "relevance_map",
        "rng_for",
        "sector_cells",
        "top_mask",
    ),
    "metrics": (
        "UNIT_SCALES",
        "aopc",
        "aopc_ratio",
        "bootstrap_mean_ci",
        "bootstrap_ratio",
        "eval_weights",
        "physical_field",
        "region_mse",
    ),
    "figures": ("plot_degradation_curves",),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
__all__ = sorted([*__all__, "cases_from_config", "check_perturbation_config"])


def cases_from_config(cfg: Mapping[str, Any]) -> dict[str, Case]:
    """The cases of ``cfg['perturbation']['cases']`` with the config's regions."""
    from aurora_xai.regions import regions_from_config

    from .experiment import Case

    regions = regions_from_config(cfg.get("regions") or {})
    cases = (cfg.get("perturbation") or {}).get("cases") or {}
    return {name: Case.from_config(name, entry, regions) for name, entry in cases.items()}


def check_perturbation_config(cfg: Mapping[str, Any]) -> None:
    """Raise :class:`aurora_xai.config.ConfigError` naming the key if the section is inconsistent.

    Checks the settings, the cases' regions, times and variables, the LRP source and
    that a case's sample time (and its history step) lies in the synthetic store's
    periods when the data are synthetic.
    """
    import pandas as pd

    from aurora_xai.config import ConfigError

    from .experiment import PerturbationSettings

    sec = cfg.get("perturbation")
    if not sec:
        return
    try:
        settings = PerturbationSettings.from_config(sec, int(cfg.get("seed", 0)))
    except (ValueError, TypeError) as err:
        raise ConfigError(f"config key 'perturbation': {err}") from err
    src = sec.get("lrp_source", "compute")
    if src not in ("compute", "rule"):
        raise ConfigError(f"config key 'perturbation.lrp_source': expected compute or rule, got {src!r}")
    try:
        cases = cases_from_config(cfg)
    except (KeyError, ValueError) as err:
        raise ConfigError(f"config key 'perturbation.cases': {err}") from err
    headline_case = sec.get("headline_case")
    if headline_case and headline_case not in cases:
        raise ConfigError(f"config key 'perturbation.headline_case': {headline_case!r} is not a case ({sorted(cases)})")
    history = pd.Timedelta(hours=float((cfg.get("dates") or {}).get("history_hours", 6)))
    covered = None
    if (cfg.get("data") or {}).get("source") == "synthetic":
        from aurora_xai.config import synthetic_spec

        covered = synthetic_spec(cfg).times()
    from aurora_xai.data.variables import ATMOS_VARS, SURF_VARS

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
    del settings
