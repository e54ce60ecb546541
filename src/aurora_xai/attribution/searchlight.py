"""A searchlight reference for attribution: the target's response to +-1 sigma patch perturbations.

For each block of ``patch x patch`` grid cells and each *group* of inputs, the
normalised inputs of the group in the block are moved by ``+sigma`` and by ``-sigma``
(sigma in units of Aurora's normalisation scale) and the reference is the half
difference of the target's responses,

    S(block, group) = (y(x + sigma e) - y(x - sigma e)) / 2,

with ``e`` the indicator of the block and group. For a model linear in its inputs this
is ``sigma * sum of the gradient over the block and group``; in general it is the
target's local response to that part of the input, the occlusion-style reference of
Zeiler & Fergus (2014) made symmetric. Scoring attribution against it with Spearman's
rank correlation and NDCG@10 follows the evaluation of attribution for fine-tuned
Aurora against patch perturbations (see ``validation-anchors`` in the project's docs).

Groups (``groups``):

* ``"variable"``: every level and history step of a variable together; the reference
  has dims ``(latitude, longitude)`` per variable;
* ``"variable_level"``: each pressure level of an atmospheric variable separately, the
  history steps together: ``(level, latitude, longitude)`` (surface: ``(latitude,
  longitude)``);
* ``"element"``: each variable, level and history step separately: the layout of
  :func:`~aurora_xai.attribution.methods.compute_relevance`.

The latitude and longitude of the reference are those of the blocks' first cells;
:func:`coarsen_relevance` sums a relevance map into the same layout so that
:func:`~aurora_xai.attribution.agreement.agreement_scores` compares the two.

Cost: ``2 x n_blocks x n_groups`` forward passes up to the target's module, run
``batch_size`` at a time; ``region`` restricts the blocks to those whose cells meet a box
(the others are left out of the reference as NaN).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from aurora_xai.attribution.grad_mode import ordinary_parameters, without_inference_tensors
from aurora_xai.attribution.inputs import (
    NormalisedInputs,
    check_batch,
    history_offsets,
    normalised_inputs,
    target_context,
    target_output,
)

__all__ = ["GROUPS", "coarsen_relevance", "searchlight_reference", "searchlight_size"]

log = logging.getLogger(__name__)

#: The input groupings a searchlight can perturb together.
GROUPS = ("variable", "variable_level", "element")


@dataclasses.dataclass(frozen=True)
class _Group:
    kind: str  # surface | atmospheric | static
    name: str
    level: int | None  # level index, or None for all
    history: int | None  # history index, or None for all


def _groups(inputs: NormalisedInputs, groups: str, include_static: bool) -> list[_Group]:
    return _group_list(inputs.surf, inputs.atmos, list(inputs.static), groups, include_static)


def _group_list(
    surf: Mapping[str, Any], atmos: Mapping[str, Any], static: Sequence[str], groups: str, include_static: bool
) -> list[_Group]:
    """The groups of tensors ``(B, T, [C,] H, W)`` by variable name (any object with a ``shape``)."""
    out: list[_Group] = []
    for kind, tensors in (("surface", surf), ("atmospheric", atmos)):
        for name, t in tensors.items():
            n_hist = t.shape[1]
            n_lev = t.shape[2] if kind == "atmospheric" else 1
            levels: list[int | None] = [None] if groups == "variable" or kind == "surface" else list(range(n_lev))
            hists: list[int | None] = list(range(n_hist)) if groups == "element" else [None]
            out += [_Group(kind, name, lev, h) for lev in levels for h in hists]
    if include_static:
        out += [_Group("static", name, None, None) for name in static]
    return out


def searchlight_size(
    batch: Any, *, patch: int, groups: str, region: Any = None, include_static: bool = False
) -> tuple[int, int]:
    """``(n_blocks, n_groups)`` of :func:`searchlight_reference` on ``batch`` without running it:
    its cost is ``2 x n_blocks x n_groups`` forward passes.

    Raises:
        ValueError: an unknown ``groups`` or ``patch < 1``.
    """
    if groups not in GROUPS or patch < 1:
        raise ValueError(f"searchlight: groups must be one of {GROUPS} and patch >= 1, got {groups!r}, {patch}")
    lat = batch.metadata.lat.detach().cpu().numpy().astype(float)
    lon = batch.metadata.lon.detach().cpu().numpy().astype(float)
    n_groups = len(_group_list(batch.surf_vars, batch.atmos_vars, list(batch.static_vars), groups, include_static))
    return len(_blocks(lat, lon, patch, region)), n_groups


def _blocks(lat: np.ndarray, lon: np.ndarray, patch: int, region: Any) -> list[tuple[int, int]]:
    n_i, n_j = math.ceil(len(lat) / patch), math.ceil(len(lon) / patch)
    blocks = []
    for i in range(n_i):
        for j in range(n_j):
            if region is not None:
                la = lat[i * patch : (i + 1) * patch]
                lo = lon[j * patch : (j + 1) * patch]
                if not region.mask(la, lo).any():
                    continue
            blocks.append((i, j))
    return blocks


def _expand(inputs: NormalisedInputs, n: int) -> NormalisedInputs:
    """``n`` copies along the batch dimension (static fields have none)."""
    meta = dataclasses.replace(inputs.metadata, time=tuple(inputs.metadata.time) * n)
    out = dataclasses.replace(
        inputs,
        surf={k: v.repeat(n, *([1] * (v.ndim - 1))) for k, v in inputs.surf.items()},
        atmos={k: v.repeat(n, *([1] * (v.ndim - 1))) for k, v in inputs.atmos.items()},
        static=dict(inputs.static),
    )
    out.metadata = meta
    return out


def _sample(out: Any, i: int) -> Any:
    """Sample ``i`` of a target module's output (tokens ``(B, L, D)`` or an ``aurora.Batch``)."""
    if isinstance(out, torch.Tensor):
        return out[i : i + 1]
    from aurora import Batch

    meta = dataclasses.replace(out.metadata, time=(out.metadata.time[i],))
    return Batch(
        surf_vars={k: v[i : i + 1] for k, v in out.surf_vars.items()},
        static_vars=out.static_vars,
        atmos_vars={k: v[i : i + 1] for k, v in out.atmos_vars.items()},
        metadata=meta,
    )


def _targets(model: nn.Module, inputs: NormalisedInputs, target: Any, n: int) -> np.ndarray:
    """The target's value for each of the ``n`` samples of ``inputs`` (float64 ``(n,)``)."""
    out = target_output(model, inputs.to_batch(), target)
    context = target_context(model, inputs.metadata)
    return np.array([float(target.reduce(_sample(out, i), context)) for i in range(n)])


def _perturbed(
    base: NormalisedInputs, jobs: list[tuple[_Group, tuple[int, int], float]], patch: int
) -> NormalisedInputs:
    x = _expand(base, len(jobs))
    surf = {k: v.clone() for k, v in x.surf.items()}
    atmos = {k: v.clone() for k, v in x.atmos.items()}
    for b, (g, (i, j), delta) in enumerate(jobs):
        rows, cols = slice(i * patch, (i + 1) * patch), slice(j * patch, (j + 1) * patch)
        hist = slice(None) if g.history is None else slice(g.history, g.history + 1)
        if g.kind == "surface":
            surf[g.name][b, hist, rows, cols] += delta
        elif g.kind == "atmospheric":
            lev = slice(None) if g.level is None else slice(g.level, g.level + 1)
            atmos[g.name][b, hist, lev, rows, cols] += delta
        else:
            raise ValueError("searchlight: static inputs have no batch dimension; perturb them one at a time")
    out = dataclasses.replace(x, surf=surf, atmos=atmos)
    out.metadata = x.metadata
    return out


def _perturbed_static(base: NormalisedInputs, g: _Group, block: tuple[int, int], delta: float, patch: int):
    i, j = block
    static = {k: v.clone() for k, v in base.static.items()}
    static[g.name][i * patch : (i + 1) * patch, j * patch : (j + 1) * patch] += delta
    out = dataclasses.replace(base, static=static)
    out.metadata = base.metadata
    return out


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for k in range(0, len(items), size):
        yield items[k : k + size]


def searchlight_reference(
    model: nn.Module,
    batch: Any,
    target: Any,
    *,
    patch: int = 4,
    groups: str = "variable",
    sigma: float = 1.0,
    region: Any = None,
    include_static: bool = False,
    batch_size: int = 8,
) -> xr.Dataset:
    """The searchlight reference of ``target`` (see the module docstring).

    Args:
        model: An ``aurora.Aurora`` (or a module with the same ``Batch -> Batch`` interface).
        batch: An ``aurora.Batch`` of batch size 1 (raw physical units).
        target: A :class:`~aurora_xai.attribution.targets.ForecastTarget` or
            :class:`~aurora_xai.attribution.targets.LatentTarget`.
        patch: Block edge in grid cells (>= 1).
        groups: One of :data:`GROUPS`.
        sigma: Perturbation in normalised units (> 0).
        region: A :class:`~aurora_xai.regions.Region`: only blocks with a cell in it are
            perturbed (default: every block).
        include_static: Perturb the static fields too (one variable ``static_<name>``).
        batch_size: Perturbed copies per forward pass (the passes run in the model's dtype).

    Returns:
        ``xr.Dataset`` with one variable per input in the layout of ``groups`` (block
        resolution; NaN for blocks outside ``region``); attributes ``patch``, ``groups``,
        ``sigma``, ``n_passes``, ``target``, ``target_value``.

    Raises:
        ValueError: a batch size other than 1, an unknown ``groups``, ``patch < 1``,
            ``sigma <= 0`` or ``batch_size < 1``.
    """
    if groups not in GROUPS:
        raise ValueError(f"searchlight: groups must be one of {GROUPS}, got {groups!r}")
    if patch < 1 or sigma <= 0 or batch_size < 1:
        raise ValueError(
            f"searchlight: need patch >= 1, sigma > 0, batch_size >= 1 (got {patch}, {sigma}, {batch_size})"
        )
    check_batch(batch)
    batch = without_inference_tensors(batch)
    lat = batch.metadata.lat.detach().cpu().numpy().astype(float)
    lon = batch.metadata.lon.detach().cpu().numpy().astype(float)
    levels = np.asarray([float(v) for v in batch.metadata.atmos_levels])
    blocks = _blocks(lat, lon, patch, region)
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None else torch.get_default_dtype()
    with torch.no_grad(), ordinary_parameters(model):
        base = normalised_inputs(model, batch, dtype)
        value = float(_targets(model, base, target, 1)[0])
        group_list = _groups(base, groups, include_static)
        jobs = [(g, blk, s * sigma) for g in group_list for blk in blocks for s in (1.0, -1.0)]
        values = np.empty(len(jobs))
        t0, done = time.monotonic(), 0
        dynamic = [k for k, (g, _, _) in enumerate(jobs) if g.kind != "static"]
        for chunk in _chunks(dynamic, batch_size):
            x = _perturbed(base, [jobs[k] for k in chunk], patch)
            values[chunk] = _targets(model, x, target, len(chunk))
            done += len(chunk)
            if done % (batch_size * 25) < batch_size:
                log.info("searchlight: %d of %d passes (%.1f s)", done, len(jobs), time.monotonic() - t0)
        for k, (g, blk, delta) in enumerate(jobs):
            if g.kind == "static":
                values[k] = _targets(model, _perturbed_static(base, g, blk, delta, patch), target, 1)[0]
    log.info("searchlight: %d passes in %.1f s", len(jobs), time.monotonic() - t0)
    half = 0.5 * (values[0::2] - values[1::2])
    hist = history_offsets(model, next(iter(base.surf.values())).shape[1])
    return _reference_dataset(
        group_list, blocks, half, lat, lon, levels, hist, patch, groups, len(jobs), target, value, sigma
    )


def _reference_dataset(
    group_list: list[_Group],
    blocks: list[tuple[int, int]],
    half: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    levels: np.ndarray,
    hist: np.ndarray,
    patch: int,
    groups: str,
    n_passes: int,
    target: Any,
    value: float,
    sigma: float,
) -> xr.Dataset:
    n_i, n_j = math.ceil(len(lat) / patch), math.ceil(len(lon) / patch)
    n_hist = len(hist)
    arrays: dict[str, np.ndarray] = {}
    dims: dict[str, tuple[str, ...]] = {}
    for g in group_list:
        key = g.name if g.kind != "static" else f"static_{g.name}"
        if key in arrays:
            continue
        shape: tuple[int, ...] = (n_i, n_j)
        d: tuple[str, ...] = ("latitude", "longitude")
        if g.kind == "atmospheric" and groups != "variable":
            shape, d = (len(levels),) + shape, ("level",) + d
        if groups == "element" and g.kind != "static":
            shape, d = (n_hist,) + shape, ("history",) + d
        arrays[key] = np.full(shape, np.nan)
        dims[key] = d
    k = 0
    for g in group_list:
        key = g.name if g.kind != "static" else f"static_{g.name}"
        for i, j in blocks:
            index: tuple[int, ...] = (i, j)
            if "level" in dims[key]:
                index = (g.level,) + index  # type: ignore[operator]
            if "history" in dims[key]:
                index = (g.history,) + index  # type: ignore[operator]
            arrays[key][index] = half[k]
            k += 1
    coords = {
        "latitude": (
            "latitude",
            lat[::patch],
            {"units": "degrees_north", "long_name": "latitude of the block's first row"},
        ),
        "longitude": (
            "longitude",
            lon[::patch],
            {"units": "degrees_east", "long_name": "longitude of the block's first column"},
        ),
        "level": ("level", levels, {"units": "hPa"}),
        "history": ("history", hist, {"units": "hours"}),
    }
    ds = xr.Dataset({key: (dims[key], a) for key, a in arrays.items()})
    ds = ds.assign_coords({c: v for c, v in coords.items() if c in ds.dims})
    ds.attrs.update(
        patch=patch,
        groups=groups,
        sigma=sigma,
        n_passes=n_passes,
        target=target.describe(),
        target_value=value,
        units="change of the target per +-sigma perturbation (target units)",
    )
    return ds


def coarsen_relevance(relevance: xr.Dataset, like: xr.Dataset) -> xr.Dataset:
    """``relevance`` summed into the block layout of the searchlight reference ``like``.

    Sums over each block's cells, and over the levels and history steps its group puts
    together; blocks that ``like`` leaves out (NaN) stay NaN. Variables ``like`` does not
    hold are dropped.

    Raises:
        KeyError: ``like`` holds a variable ``relevance`` lacks.
    """
    patch, groups = int(like.attrs["patch"]), str(like.attrs["groups"])
    out = {}
    for name, ref in like.data_vars.items():
        if name not in relevance:
            raise KeyError(f"coarsen_relevance: the relevance has no variable {name!r}")
        da = relevance[name]
        drop = [d for d in ("history", "level") if d in da.dims and d not in ref.dims]
        if drop:
            da = da.sum(drop)
        n_lat, n_lon = da.sizes["latitude"], da.sizes["longitude"]
        pad_lat, pad_lon = (-n_lat) % patch, (-n_lon) % patch
        a = np.asarray(da.transpose(*ref.dims).values, dtype=np.float64)
        pad = [(0, 0)] * (a.ndim - 2) + [(0, pad_lat), (0, pad_lon)]
        a = np.pad(a, pad)
        a = a.reshape(a.shape[:-2] + (a.shape[-2] // patch, patch, a.shape[-1] // patch, patch)).sum(axis=(-3, -1))
        a = np.where(np.isnan(ref.values), np.nan, a)
        out[name] = (ref.dims, a)
    return xr.Dataset(out, coords=like.coords, attrs={"coarsened_like": f"searchlight patch {patch}, groups {groups}"})
