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
  dimension is never part of the geometry
  (:func:`~aurora_xai.latents.geometry.latent_token_mask`). Its layer is a tap of
  :mod:`aurora_xai.latents.taps`, the vocabulary of ``latents.tap``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from aurora_xai.data.batch import select_field
from aurora_xai.grid import lat_weights
from aurora_xai.latents.geometry import latent_token_mask, token_resolution
from aurora_xai.latents.taps import parse_tap, resolve_tap
from aurora_xai.regions import GLOBE, Region

__all__ = ["ForecastTarget", "LatentTarget"]


@dataclasses.dataclass(frozen=True)
class ForecastTarget:
    """Mean of a predicted variable (normalised) at +6 h over the cells of a region.

    Args:
        variable: Surface variable (``level=None``) or atmospheric variable.
        level: Pressure level in hPa for atmospheric variables.
        region: Box; cells whose (latitude, longitude) lie in it are averaged.
        area_weighted: Weight cells by their exact area
            (:func:`aurora_xai.grid.lat_weights`; default: plain mean).
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
        try:
            x = select_field(pred, self.variable, self.level)
        except KeyError as err:
            raise KeyError(f"ForecastTarget: {err.args[0]}") from None
        mask = self.region.mask(lat, lon)
        if not mask.any():
            raise ValueError(f"ForecastTarget: region {self.region.name!r} contains no grid cell")
        w = mask.astype(float)
        if self.area_weighted:
            w = w * lat_weights(lat)[:, None]
        w = torch.as_tensor(w / w.sum(), dtype=x.dtype, device=x.device)
        return (x * w).sum(dim=(-2, -1)).sum()


@dataclasses.dataclass(frozen=True)
class LatentTarget:
    """Mean (or sum) of latent activations over the tokens whose patch centre is in a region.

    Args:
        layer: A tap of :mod:`aurora_xai.latents.taps`, as ``latents.tap``:
            ``"encoder"`` (Perceiver encoder output, the backbone input),
            ``"backbone.encoder.<k>"`` (backbone encoder stage ``k``, the tokens before
            down-sampling), ``"bottleneck"`` (the deepest stage) or ``"backbone"``
            (backbone output, channels doubled by the U-Net skip).
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
            raise ValueError(f"LatentTarget.reduction must be 'mean' or 'sum', got {self.reduction!r}")
        parse_tap(self.layer, key="LatentTarget.layer")

    def describe(self) -> str:
        lev = "" if self.latent_levels is None else f" levels={list(self.latent_levels)}"
        ch = "" if self.channels is None else f" channels={list(self.channels)}"
        return f"latent:{self.layer} {self.reduction} over {self.region.name}{lev}{ch}"

    def hook_module(self, model: nn.Module) -> tuple[nn.Module, Any]:
        """Module to read (the tap's) and the read of its output (tokens ``(B, L, D)``)."""
        point = resolve_tap(model, self.layer, key="LatentTarget.layer")
        return point.module, point.read

    def token_mask(self, tokens: torch.Tensor, context: dict[str, Any]) -> np.ndarray:
        """Mask ``(L,)`` over the tokens of ``tokens`` (B, L, D) for this region.

        Raises:
            ValueError: if the number of tokens does not match the tap's stage.
        """
        lat, lon = context["lat"], context["lon"]
        patch_size, levels = context["patch_size"], context["latent_levels"]
        n_stages = max(context.get("n_stages", 1), 1)
        stage = parse_tap(self.layer, n_stages, key="LatentTarget.layer")
        res = token_resolution(lat, lon, patch_size, levels, n_stages, stage)
        if tokens.shape[1] != math.prod(res):
            raise ValueError(
                f"LatentTarget: {tokens.shape[1]} tokens at {self.layer!r} do not match its stage {stage} "
                f"resolution {res} ({math.prod(res)} tokens)"
            )
        return latent_token_mask(self.region, lat, lon, patch_size, levels, stage, self.latent_levels)

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
