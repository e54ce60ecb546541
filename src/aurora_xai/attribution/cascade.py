"""The model-parameter randomisation cascade (Adebayo et al. 2018, "Sanity checks for saliency maps", NeurIPS).

The weights of a model are randomised stage by stage from the output down, cumulatively;
after each stage the relevance is computed again and compared with the trained model's
by Spearman's rank correlation (signed, and of ``|R|``). A method whose maps stay similar
while the layers that produce the output are randomised explains the input or the
architecture, not what the model learned, and is flagged.

Randomisation draws every parameter tensor of a stage anew from a normal distribution
with that tensor's own mean and standard deviation (seeded per stage): the scale of each
layer is kept, what it learned is not. Aurora's own initialisation is not used because it
zeroes the modulation of every adaptive layer norm, which would turn the Swin blocks into
identities rather than random functions.

Aurora's stages from the output down (:func:`aurora_stages`): the Perceiver decoder, the
backbone's decoder layers (last applied first), its encoder layers (last first) with the
lead-time embedding, and the Perceiver encoder.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr
from scipy import stats
from torch import nn

__all__ = ["aurora_stages", "cascade_similarity", "randomisation_cascade", "randomise_", "relevance_similarity"]


def aurora_stages(model: nn.Module) -> list[tuple[str, list[str]]]:
    """Aurora's stages from the output down: ``(name, [module paths])``.

    Raises:
        ValueError: ``model`` lacks Aurora's ``encoder``, ``backbone`` or ``decoder``.
    """
    backbone = getattr(model, "backbone", None)
    if not all(hasattr(model, name) for name in ("encoder", "decoder")) or backbone is None:
        raise ValueError("aurora_stages: the model has no Aurora encoder, backbone and decoder")
    stages: list[tuple[str, list[str]]] = [("decoder", ["decoder"])]
    n_dec = len(backbone.decoder_layers)
    stages += [(f"backbone.decoder_layers.{i}", [f"backbone.decoder_layers.{i}"]) for i in reversed(range(n_dec))]
    n_enc = len(backbone.encoder_layers)
    for i in reversed(range(n_enc)):
        paths = [f"backbone.encoder_layers.{i}"] + (["backbone.time_mlp"] if i == 0 else [])
        stages.append((f"backbone.encoder_layers.{i}", paths))
    stages.append(("encoder", ["encoder"]))
    return stages


def randomise_(module: nn.Module, seed: int) -> int:
    """Redraw every parameter of ``module`` in place from ``N(mean, std)`` of itself.

    A tensor with one element keeps its value plus ``N(0, |value|)`` noise. Returns the
    number of parameters redrawn.
    """
    g = torch.Generator().manual_seed(int(seed))
    n = 0
    with torch.no_grad():
        for p in module.parameters():
            if p.numel() == 0:
                continue
            if p.numel() > 1:
                mean, std = float(p.mean()), float(p.std())
            else:
                mean, std = float(p), abs(float(p))
            draw = torch.randn(p.shape, generator=g, dtype=torch.float64) * std + mean
            p.copy_(draw.to(p.dtype))
            n += p.numel()
    return n


def randomisation_cascade(
    model: nn.Module,
    stages: Sequence[tuple[str, Sequence[str]]] | None = None,
    seed: int = 0,
) -> Iterator[tuple[str, nn.Module]]:
    """Copies of ``model`` with its stages randomised cumulatively from the output down.

    Yields ``(stage name, model)`` after each stage is randomised: the first has only the
    first stage randomised, the last every stage. ``model`` itself is never changed. The
    same model is yielded each time (randomised further): use it before the next step.

    Args:
        model: The trained model.
        stages: ``(name, [module paths])`` from the output down (default:
            :func:`aurora_stages`).
        seed: Stage ``k`` draws with seed ``seed + k``.

    Raises:
        AttributeError: a module path does not exist in the model.
    """
    stages = aurora_stages(model) if stages is None else stages
    work = copy.deepcopy(model)
    for k, (name, paths) in enumerate(stages):
        for path in paths:
            randomise_(work.get_submodule(path), seed + k)
        yield name, work


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def _flat(ds: xr.Dataset) -> np.ndarray:
    return np.concatenate([np.asarray(ds[v].values, dtype=np.float64).ravel() for v in sorted(ds.data_vars)])


def relevance_similarity(a: xr.Dataset, b: xr.Dataset) -> dict[str, float]:
    """How alike two relevance maps of the same layout are, over every element of every
    variable (sorted by name): Spearman's rank correlation of the signed relevance
    (``spearman``) and of ``|R|`` (``spearman_abs``), the cosine of the two flattened maps
    (``cosine``) and the number of elements (``n_elements``). A score is NaN where it is
    undefined (a constant map, a zero map). A map compared with itself scores 1.

    Raises:
        ValueError: the maps differ in variables or sizes.
    """
    if sorted(a.data_vars) != sorted(b.data_vars):
        raise ValueError(f"relevance_similarity: variables {sorted(a.data_vars)} and {sorted(b.data_vars)}")
    x, y = _flat(a), _flat(b)
    if x.shape != y.shape:
        raise ValueError(f"relevance_similarity: {x.size} and {y.size} elements")
    norm = float(np.linalg.norm(x) * np.linalg.norm(y))
    return {
        "spearman": _spearman(x, y),
        "spearman_abs": _spearman(np.abs(x), np.abs(y)),
        "cosine": float(x @ y) / norm if norm > 0 else float("nan"),
        "n_elements": int(x.size),
    }


def cascade_similarity(
    model: nn.Module,
    relevance: Callable[[nn.Module], xr.Dataset],
    stages: Sequence[tuple[str, Sequence[str]]] | None = None,
    seed: int = 0,
    progress: Callable[[str], Any] | None = None,
) -> list[dict[str, Any]]:
    """Similarity of the relevance after each cascade step with the trained model's.

    Args:
        model: The trained model.
        relevance: Computes a relevance map (:func:`~aurora_xai.attribution.methods.compute_relevance`
            layout) for a model.
        stages, seed: As :func:`randomisation_cascade`.
        progress: Called with a line after each step.

    Returns:
        One row per step, the trained model first (stage ``"none"``): ``stage``, ``step``
        (0 = trained), ``spearman`` (signed relevance), ``spearman_abs`` (of ``|R|``).
    """
    reference = _flat(relevance(model))
    rows: list[dict[str, Any]] = [{"stage": "none", "step": 0, "spearman": 1.0, "spearman_abs": 1.0}]
    for k, (name, randomised) in enumerate(randomisation_cascade(model, stages, seed), start=1):
        r = _flat(relevance(randomised))
        rows.append(
            {
                "stage": name,
                "step": k,
                "spearman": _spearman(r, reference),
                "spearman_abs": _spearman(np.abs(r), np.abs(reference)),
            }
        )
        if progress is not None:
            progress(f"cascade step {k} ({name}): spearman {rows[-1]['spearman']:.3f}")
    return rows
