"""The surrogate's architecture: Aurora's tiny model whose decoder adds the current state.

The surrogate (``model.name: surrogate``) is an ``aurora.Aurora`` with the tiny
architecture (:data:`aurora_xai.model.TINY_ARCH`) whose decoder predicts the 6-hour
change in Aurora's normalised units: the decoder's output is the batch's current step
(the last history step) plus the Perceiver decoder's own output ``d`` times a fixed
increment scale per variable ``c_v``, all normalised. After Aurora's unnormalisation this
is ``x(t) + scale_v * c_v * d``: the model forecasts the current state plus a learned
increment. ``c_v`` (buffers ``surf_increment_scale`` and ``atmos_increment_scale`` of the
decoder, in the order of its ``surf_vars`` and ``atmos_vars``; ones in an untrained
model) is the standard deviation of the variable's 6-hour change in normalised units on
the training samples, set once before training
(:func:`aurora_xai.surrogate.train.increment_scales`), so that ``d`` has about unit
variance for every variable.

The residual sits inside the decoder module (:class:`ResidualPerceiver3DDecoder`, a
subclass of Aurora's ``Perceiver3DDecoder`` with the same parameters), so every use of the
model sees the same function: a forward pass, forecast targets read at the decoder's
output (attribution), taps and pushes inside the backbone (latents, interventions), and
masked inputs (perturbation). Its state dict is the tiny architecture's plus the two
increment-scale buffers.

For attribution the residual is an identity path from the current step's inputs to the
forecast: in gradient-times-input form it gives each current-step input cell exactly its
own normalised value times the target's weight there, and absorbs nothing; the increment
scale is a constant factor on the decoder's output and absorbs nothing either.
"""

from __future__ import annotations

from typing import Any

import aurora
import torch
from aurora.model.decoder import Perceiver3DDecoder

__all__ = ["ResidualAurora", "ResidualPerceiver3DDecoder"]


class ResidualPerceiver3DDecoder(Perceiver3DDecoder):
    """Aurora's Perceiver decoder as an increment on the batch's current step (normalised units).

    ``forward(x, batch, patch_res, lead_times)`` as Aurora's decoder: ``batch`` is the
    normalised, cropped batch (surface variables ``(B, T, H, W)``, atmospheric
    ``(B, T, C, H, W)``); each of the prediction's surface variables ``(B, H, W)`` and
    atmospheric ones ``(B, C, H, W)`` is multiplied by its increment scale
    (``surf_increment_scale``, ``atmos_increment_scale``) and added to ``batch``'s step
    ``T - 1``.
    """

    surf_increment_scale: torch.Tensor
    atmos_increment_scale: torch.Tensor

    def forward(self, x: Any, batch: Any, *args: Any, **kwargs: Any) -> Any:
        import dataclasses

        pred = super().forward(x, batch, *args, **kwargs)
        cs = dict(zip(self.surf_vars, self.surf_increment_scale))
        ca = dict(zip(self.atmos_vars, self.atmos_increment_scale))
        return dataclasses.replace(
            pred,
            surf_vars={
                k: batch.surf_vars[k][:, -1].to(v.dtype) + cs[k].to(v.dtype) * v for k, v in pred.surf_vars.items()
            },
            atmos_vars={
                k: batch.atmos_vars[k][:, -1].to(v.dtype) + ca[k].to(v.dtype) * v for k, v in pred.atmos_vars.items()
            },
        )


class ResidualAurora(aurora.Aurora):
    """``aurora.Aurora`` whose decoder is a :class:`ResidualPerceiver3DDecoder`.

    Takes ``aurora.Aurora``'s arguments. The decoder is Aurora's own, built by Aurora's
    constructor; its class changes and it gains the two increment-scale buffers (ones), so
    the parameters are those of ``aurora.Aurora`` with the same arguments.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if type(self.decoder) is not Perceiver3DDecoder:
            raise TypeError(f"ResidualAurora: expected Aurora's Perceiver3DDecoder, got {type(self.decoder).__name__}")
        self.decoder.__class__ = ResidualPerceiver3DDecoder
        self.decoder.register_buffer("surf_increment_scale", torch.ones(len(self.decoder.surf_vars)))
        self.decoder.register_buffer("atmos_increment_scale", torch.ones(len(self.decoder.atmos_vars)))
