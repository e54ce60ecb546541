"""The data-randomisation test of attribution (Adebayo et al. 2018, "Sanity checks for saliency maps", NeurIPS).

A second model is trained exactly as the real one but on targets permuted across the
training times (:func:`~aurora_xai.surrogate.samples.shuffled_target_times`): it sees
the same inputs and the same distribution of targets, but nothing in the inputs
predicts its targets, so it cannot learn the map the real model learned. A method
whose relevance under that model still resembles its relevance under the trained model
explains the input or the architecture rather than what was learned.

For one case and target, each method variant computes its relevance under both models
(same batch, same target); :func:`~aurora_xai.attribution.cascade.relevance_similarity`
compares them over every element (variables, levels, history steps, cells; static
fields left out): Spearman's rank correlation of the signed relevance and of ``|R|``,
and the cosine. A method is flagged when ``|spearman| > threshold``, the threshold of
the randomisation cascade's flag
(:data:`~aurora_xai.attribution.validation_tables.SURVIVAL_THRESHOLD`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import xarray as xr
from torch import nn

from aurora_xai.attribution.cascade import relevance_similarity
from aurora_xai.attribution.validation import cell_map, variant
from aurora_xai.attribution.validation_tables import SURVIVAL_THRESHOLD
from aurora_xai.regions import Region

__all__ = ["MODELS", "case_data_randomisation", "data_randomisation_rows"]

#: The two models compared, in the order of the maps' ``model`` dimension.
MODELS = ("trained", "shuffled")


def _dynamic(ds: xr.Dataset) -> xr.Dataset:
    return ds[[v for v in ds.data_vars if not str(v).startswith("static_")]]


def data_randomisation_rows(
    trained: nn.Module,
    shuffled: nn.Module,
    batch: Any,
    target: Any,
    labels: Sequence[str],
    case: str,
    *,
    epsilon: float = 1e-6,
    n_steps: int = 32,
    dtype: torch.dtype | None = torch.float64,
    threshold: float = SURVIVAL_THRESHOLD,
    checkpointing: bool | str = "none",
    progress: Callable[[str], Any] | None = None,
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], xr.Dataset]]:
    """Each variant's relevance under the trained and the shuffled-target model, compared.

    Args:
        trained: The model the study runs.
        shuffled: The same architecture trained on shuffled targets.
        batch: An ``aurora.Batch`` of batch size 1 (raw units).
        target: The target (:class:`~aurora_xai.attribution.targets.ForecastTarget`).
        labels: Variants of :data:`~aurora_xai.attribution.validation.VARIANTS`.
        case: The case's name (a column of the rows).
        epsilon, n_steps, dtype, checkpointing: As :func:`~aurora_xai.attribution.methods.compute_relevance`.
        threshold: ``|spearman|`` above which a method's map survives (flagged).

    Returns:
        ``(rows, maps)``: one row per variant with ``case``, ``method``, ``spearman``,
        ``spearman_abs``, ``cosine``, ``n_elements``, ``target_trained``,
        ``target_shuffled`` (the target's value under each model) and ``survives``;
        ``maps[(model, label)]``, the relevance maps (static fields left out).

    Raises:
        ValueError: an unknown variant label.
    """
    rows: list[dict[str, Any]] = []
    maps: dict[tuple[str, str], xr.Dataset] = {}
    for label in labels:
        v = variant(label)
        pair = {}
        for name, model in zip(MODELS, (trained, shuffled)):
            pair[name] = v.relevance(
                model, batch, target, epsilon=epsilon, n_steps=n_steps, dtype=dtype, checkpointing=checkpointing
            )
            maps[(name, label)] = _dynamic(pair[name])
        scores = relevance_similarity(maps[("shuffled", label)], maps[("trained", label)])
        rho = scores["spearman"]
        rows.append(
            {
                "case": case,
                "method": label,
                **scores,
                "target_trained": float(pair["trained"].attrs.get("target_value", float("nan"))),
                "target_shuffled": float(pair["shuffled"].attrs.get("target_value", float("nan"))),
                "survives": bool(rho == rho and abs(rho) > threshold),
            }
        )
        if progress is not None:
            progress(f"data randomisation {label}: spearman {rho:.3f}, cosine {scores['cosine']:.3f}")
    return rows, maps


def case_data_randomisation(
    trained: nn.Module,
    shuffled: nn.Module,
    source: Any,
    settings: Any,
    case: str,
    time: Any,
    region: Region,
    progress: Callable[[str], Any] | None = None,
    checkpointing: bool | str = "none",
) -> dict[str, Any]:
    """The data-randomisation check of one case (the work of the rule ``validate_data_randomisation``).

    Args:
        trained, shuffled: The two models (:func:`data_randomisation_rows`).
        source: The ERA5 source (:class:`~aurora_xai.data.era5.ERA5Source`).
        settings: :class:`~aurora_xai.attribution.validation_settings.DataRandomisationSettings`.
        case, time, region: The case's name, current time and box.
        checkpointing: Activation checkpointing of the relevance passes (an execution
            setting: less memory, the same relevance).

    Returns:
        ``rows`` (:func:`data_randomisation_rows`) and ``maps``: a Dataset whose
        ``relevance`` is :func:`~aurora_xai.attribution.validation.cell_map` of each
        variant under each model, dims ``(variant, model, latitude, longitude)``.
    """
    import pandas as pd

    from aurora_xai.attribution.targets import ForecastTarget

    target = ForecastTarget(settings.target_variable, settings.target_level, region)
    batch = source.batch(time)
    if progress is not None:
        progress(f"case {case}: {target.describe()} at {time}")
    rows, maps = data_randomisation_rows(
        trained,
        shuffled,
        batch,
        target,
        settings.cascade_methods,
        case,
        epsilon=settings.epsilon,
        n_steps=settings.ig_steps,
        checkpointing=checkpointing,
        progress=progress,
    )
    labels = list(settings.cascade_methods)
    cells = xr.concat(
        [
            xr.concat([cell_map(maps[(m, label)]) for m in MODELS], dim=pd.Index(list(MODELS), name="model"))
            for label in labels
        ],
        dim=pd.Index(labels, name="variant"),
    )
    maps_ds = xr.Dataset({"relevance": cells}, attrs={"case": case, "time": str(time), "target": target.describe()})
    return {"rows": rows, "maps": maps_ds}
