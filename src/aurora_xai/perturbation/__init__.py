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
* configuration: :func:`check_perturbation_config`;
* figure: :func:`plot_degradation_curves` (:mod:`aurora_xai.perturbation.figures`).

Every name is imported lazily from its submodule on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aurora_xai.settings import Settings

# Names are imported lazily from their submodules (PEP 562), so that importing
# ``aurora_xai.perturbation.figures`` (the plotting environment has no torch) does not
# import torch through this package.
from aurora_xai._lazy import lazy_exports

_EXPORTS = {
    "settings": (
        "MASK_VALUES",
        "METHODS",
        "RANDOM_KINDS",
        "Case",
        "MaskFields",
        "PerturbationSettings",
        "history_indices",
    ),
    "apply": (
        "climatology_fill",
        "climatology_times",
        "masked_batch",
        "normalisation_fill",
        "smoothed_fill",
    ),
    "experiment": (
        "TABLE_COLUMNS",
        "PerturbationResult",
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
__all__ = sorted([*__all__, "check_perturbation_config"])


def check_perturbation_config(settings: Settings) -> None:
    """Raise :class:`aurora_xai.config.ConfigError` naming the key if the section is inconsistent.

    Checks the settings, the cases' regions, times and variables and the headline case,
    and that a case's sample time (and its history step) lies in the synthetic store's
    periods when the data are synthetic.
    """
    import pandas as pd

    from aurora_xai.config import ConfigError
    from aurora_xai.data.variables import ATMOS_VARS, SURF_VARS

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
