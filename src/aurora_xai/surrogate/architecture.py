"""The surrogate's architecture: Aurora's tiny model whose decoder adds the current state.

The surrogate (``model.name: surrogate``) is an ``aurora.Aurora`` with the tiny
architecture (:data:`aurora_xai.model.TINY_ARCH`) whose decoder predicts the 6-hour
change in Aurora's normalised units: the decoder's output is the Perceiver decoder's
own output plus the batch's current step (the last history step), both normalised.
After Aurora's unnormalisation this is ``x(t) + scale * d`` for the decoder's raw output
``d``: the model forecasts the current state plus a learned increment.

The residual sits inside the decoder module (:class:`ResidualPerceiver3DDecoder`, a
subclass of Aurora's ``Perceiver3DDecoder`` with the same parameters), so every use of the
model sees the same function: a forward pass, forecast targets read at the decoder's
output (attribution), taps and pushes inside the backbone (latents, interventions), and
masked inputs (perturbation). Its state dict is the tiny architecture's; a surrogate
checkpoint loads into a plain tiny model too, which then lacks the residual.

For attribution the residual is an identity path from the current step's inputs to the
forecast: in gradient-times-input form it gives each current-step input cell exactly its
own normalised value times the target's weight there, and absorbs nothing.
"""

from __future__ import annotations

from typing import Any

import aurora
from aurora.model.decoder import Perceiver3DDecoder

__all__ = ["ResidualAurora", "ResidualPerceiver3DDecoder"]


class ResidualPerceiver3DDecoder(Perceiver3DDecoder):
    """Aurora's Perceiver decoder plus the batch's current step (normalised units).

    ``forward(x, batch, patch_res, lead_times)`` as Aurora's decoder: ``batch`` is the
    normalised, cropped batch (surface variables ``(B, T, H, W)``, atmospheric
    ``(B, T, C, H, W)``); the prediction's surface variables ``(B, H, W)`` and atmospheric
    ``(B, C, H, W)`` get ``batch``'s step ``T - 1`` added.
    """

    def forward(self, x: Any, batch: Any, *args: Any, **kwargs: Any) -> Any:
        import dataclasses

        pred = super().forward(x, batch, *args, **kwargs)
        return dataclasses.replace(
            pred,
            surf_vars={k: v + batch.surf_vars[k][:, -1].to(v.dtype) for k, v in pred.surf_vars.items()},
            atmos_vars={k: v + batch.atmos_vars[k][:, -1].to(v.dtype) for k, v in pred.atmos_vars.items()},
        )


class ResidualAurora(aurora.Aurora):
    """``aurora.Aurora`` whose decoder is a :class:`ResidualPerceiver3DDecoder`.

    Takes ``aurora.Aurora``'s arguments. The decoder is Aurora's own, built by Aurora's
    constructor; only its class changes (the subclass adds no state), so parameters,
    state dict and checkpoints are those of ``aurora.Aurora`` with the same arguments.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if type(self.decoder) is not Perceiver3DDecoder:
            raise TypeError(f"ResidualAurora: expected Aurora's Perceiver3DDecoder, got {type(self.decoder).__name__}")
        self.decoder.__class__ = ResidualPerceiver3DDecoder
