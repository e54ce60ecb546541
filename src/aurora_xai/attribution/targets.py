"""Scalar targets for attribution: a forecast box mean or a latent-token box mean.

A target names the module whose output it reads (``hook_module``) and reduces that
output to a scalar (``reduce``). The attribution code runs the model only up to that
module (a forward hook stops the pass there).

* :class:`ForecastTarget` reads the output of Aurora's decoder, i.e. the +6 h
  prediction in **normalised** space (``(x - location) / scale`` with Aurora's own
  statistics, before un-normalisation and before the cast to float32), on the
  latitude grid after the crop to a multiple of the patch size.
* :class:`LatentTarget` reads latent tokens (encoder output, backbone output, or one
  backbone stage). Tokens are ordered (latent level, latitude patch, longitude patch);
  the region selects whole tokens by the centre of their patch (mean of the grid
  latitudes and longitudes the token covers, after the crop), and the channel
  dimension is never part of the geometry (:func:`latent_token_mask`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from aurora_xai.regions import GLOBE, Region

__all__ = [
    "ForecastTarget",
    "LatentTarget",
    "cropped_grid",
    "latent_token_mask",
    "stage_resolutions",
    "token_centres",
]


def cropped_grid(lat: np.ndarray, patch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes kept by Aurora's crop and a boolean flag of the dropped rows.

    Aurora drops the last (southernmost) row when ``len(lat) % patch_size == 1``.
    """
    lat = np.asarray(lat, dtype=float)
    n = len(lat)
    extra = n % patch_size
    if extra > 1:
        raise ValueError(f"{n} latitudes: Aurora can crop at most one row (patch {patch_size})")
    keep = n - extra
    dropped = np.zeros(n, dtype=bool)
    dropped[keep:] = True
    return lat[:keep], dropped


def stage_resolutions(nlat_patches: int, nlon_patches: int, n_stages: int) -> list[tuple[int, int]]:
    """Token grid ``(H_k, W_k)`` of each backbone stage (Aurora pads odd sizes, then halves)."""
    res = [(nlat_patches, nlon_patches)]
    for _ in range(1, n_stages):
        h, w = res[-1]
        res.append(((h + h % 2) // 2, (w + w % 2) // 2))
    return res


def token_centres(
    lat: np.ndarray,
    lon: np.ndarray,
    patch_size: int = 4,
    stage: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Centre latitude and longitude of every token row and column.

    Args:
        lat: Latitudes of the input grid (decreasing); the crop is applied here.
        lon: Longitudes of the input grid (increasing, in [0, 360)).
        patch_size: Aurora's patch size.
        stage: Backbone stage; a token of stage ``k`` covers ``2**k x 2**k`` patches
            (fewer at the bottom/right edge where Aurora padded).

    Returns:
        ``(lat_c, lon_c)`` of shapes ``(H_k,)`` and ``(W_k,)``: the mean of the grid
        latitudes (longitudes) the token covers.
    """
    lat_kept, _ = cropped_grid(lat, patch_size)
    lon = np.asarray(lon, dtype=float)
    if len(lon) % patch_size:
        raise ValueError(f"{len(lon)} longitudes is not a multiple of the patch size {patch_size}")
    f = patch_size * 2**stage
    nh = len(lat_kept) // patch_size
    nw = len(lon) // patch_size
    hk, wk = stage_resolutions(nh, nw, stage + 1)[stage]
    lat_c = np.array([lat_kept[i * f : (i + 1) * f].mean() for i in range(hk)])
    lon_c = np.array([lon[j * f : (j + 1) * f].mean() for j in range(wk)])
    return lat_c, lon_c


def latent_token_mask(
    region: Region,
    lat: np.ndarray,
    lon: np.ndarray,
    patch_size: int = 4,
    latent_levels: int = 4,
    stage: int = 0,
    levels: tuple[int, ...] | None = None,
) -> np.ndarray:
    """Boolean mask over tokens ``(latent_levels * H_k * W_k,)`` in Aurora's token order.

    A token is selected when its patch centre lies in ``region`` and (if ``levels`` is
    given) its latent level is listed (0 is the surface level). The mask is over tokens
    only: broadcast it over the channel dimension.
    """
    lat_c, lon_c = token_centres(lat, lon, patch_size, stage)
    horiz = region.mask(lat_c, lon_c)  # (H_k, W_k)
    lev = np.ones(latent_levels, dtype=bool)
    if levels is not None:
        lev[:] = False
        lev[list(levels)] = True
    return (lev[:, None, None] & horiz[None]).reshape(-1)


def _area_weights(lat: np.ndarray) -> np.ndarray:
    return np.cos(np.deg2rad(np.asarray(lat, dtype=float))).clip(min=0.0)


@dataclasses.dataclass(frozen=True)
class ForecastTarget:
    """Mean of a predicted variable (normalised) at +6 h over the cells of a region.

    Args:
        variable: Surface variable (``level=None``) or atmospheric variable.
        level: Pressure level in hPa for atmospheric variables.
        region: Box; cells whose (latitude, longitude) lie in it are averaged.
        area_weighted: Weight cells by cos(latitude) (default: plain mean).
    """

    variable: str = "msl"
    level: float | None = None
    region: Region = GLOBE
    area_weighted: bool = False

    def describe(self) -> str:
        lev = "" if self.level is None else f"@{self.level:g}hPa"
        w = ", area-weighted" if self.area_weighted else ""
        return f"forecast:{self.variable}{lev} normalised mean over {self.region.name}{w}"

    def hook_module(self, model: nn.Module) -> tuple[nn.Module, Any]:
        """Module to read (Aurora's decoder when present, else the model) and extractor."""
        decoder = getattr(model, "decoder", None)
        if decoder is not None:
            return decoder, lambda out: out
        return model, lambda out: out

    def reduce(self, pred: Any, context: dict[str, Any]) -> torch.Tensor:
        """Scalar from a prediction ``aurora.Batch`` (normalised, cropped grid)."""
        lat = pred.metadata.lat.detach().cpu().numpy()
        lon = pred.metadata.lon.detach().cpu().numpy()
        if self.level is None:
            if self.variable not in pred.surf_vars:
                raise KeyError(f"ForecastTarget: no surface variable {self.variable!r} in output")
            x = pred.surf_vars[self.variable]
            if x.ndim == 4:  # (B, T, H, W) from a model output with a history dimension
                x = x[:, -1]
        else:
            if self.variable not in pred.atmos_vars:
                raise KeyError(f"ForecastTarget: no atmospheric variable {self.variable!r}")
            levels = [float(v) for v in pred.metadata.atmos_levels]
            if float(self.level) not in levels:
                raise KeyError(f"ForecastTarget: level {self.level} not in {levels}")
            x = pred.atmos_vars[self.variable]
            if x.ndim == 5:
                x = x[:, -1]
            x = x[:, levels.index(float(self.level))]
        mask = self.region.mask(lat, lon)
        if not mask.any():
            raise ValueError(f"ForecastTarget: region {self.region.name!r} contains no grid cell")
        w = mask.astype(float)
        if self.area_weighted:
            w = w * _area_weights(lat)[:, None]
        w = torch.as_tensor(w / w.sum(), dtype=x.dtype, device=x.device)
        return (x * w).sum(dim=(-2, -1)).sum()


@dataclasses.dataclass(frozen=True)
class LatentTarget:
    """Mean (or sum) of latent activations over the tokens whose patch centre is in a region.

    Args:
        layer: ``"encoder"`` (Perceiver encoder output, the backbone input),
            ``"backbone"`` (backbone output, channels doubled by the U-Net skip), or
            ``"backbone.encoder_layers.<i>"`` / ``"backbone.decoder_layers.<i>"`` (output
            of one Swin stage; for encoder stages the tokens before down-sampling).
        region: Box selecting tokens by their patch centre.
        latent_levels: Latent levels to include (0 = surface; None = all).
        channels: Channels to include (None = all).
        reduction: ``"mean"`` or ``"sum"`` over the selected tokens and channels.
    """

    layer: str = "backbone"
    region: Region = GLOBE
    latent_levels: tuple[int, ...] | None = None
    channels: tuple[int, ...] | None = None
    reduction: str = "mean"

    def __post_init__(self) -> None:
        if self.reduction not in ("mean", "sum"):
            raise ValueError(
                f"LatentTarget.reduction must be 'mean' or 'sum', got {self.reduction!r}"
            )

    def describe(self) -> str:
        lev = "" if self.latent_levels is None else f" levels={list(self.latent_levels)}"
        ch = "" if self.channels is None else f" channels={list(self.channels)}"
        return f"latent:{self.layer} {self.reduction} over {self.region.name}{lev}{ch}"

    def hook_module(self, model: nn.Module) -> tuple[nn.Module, Any]:
        parts = self.layer.split(".")
        if parts[0] not in ("encoder", "backbone"):
            raise ValueError(f"LatentTarget.layer: unknown layer {self.layer!r}")
        module = model.get_submodule(self.layer)
        if len(parts) == 3 and parts[1] == "encoder_layers":
            # BasicLayer3D returns (downsampled, before-downsampling) or (x, None).
            return module, lambda out: out[1] if out[1] is not None else out[0]
        if len(parts) == 3 and parts[1] == "decoder_layers":
            return module, lambda out: out[0]
        if len(parts) != 1:
            raise ValueError(f"LatentTarget.layer: unknown layer {self.layer!r}")
        return module, lambda out: out

    def token_mask(self, tokens: torch.Tensor, context: dict[str, Any]) -> np.ndarray:
        """Mask ``(L,)`` over the tokens of ``tokens`` (B, L, D) for this region."""
        lat, lon = context["lat"], context["lon"]
        patch_size, levels = context["patch_size"], context["latent_levels"]
        lat_kept, _ = cropped_grid(lat, patch_size)
        nh, nw = len(lat_kept) // patch_size, len(lon) // patch_size
        n_stages = max(context.get("n_stages", 1), 1)
        L = tokens.shape[1]
        for stage, (h, w) in enumerate(stage_resolutions(nh, nw, n_stages)):
            if levels * h * w == L:
                return latent_token_mask(
                    self.region, lat, lon, patch_size, levels, stage, self.latent_levels
                )
        raise ValueError(f"LatentTarget: {L} tokens match no stage of a {nh}x{nw} patch grid")

    def reduce(self, tokens: torch.Tensor, context: dict[str, Any]) -> torch.Tensor:
        if tokens.ndim != 3:
            raise ValueError(f"LatentTarget: expected tokens (B, L, D), got {tuple(tokens.shape)}")
        mask = self.token_mask(tokens, context)
        if not mask.any():
            raise ValueError(f"LatentTarget: region {self.region.name!r} selects no token")
        idx = torch.as_tensor(np.flatnonzero(mask), device=tokens.device)
        sel = tokens.index_select(1, idx)
        if self.channels is not None:
            ch = torch.as_tensor(list(self.channels), device=tokens.device)
            sel = sel.index_select(2, ch)
        total = sel.sum()
        if self.reduction == "mean":
            total = total / math.prod(sel.shape[1:])
        return total
