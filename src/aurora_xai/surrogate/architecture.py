"""The surrogate's architecture: Aurora's tiny model whose decoder adds the current state.

The surrogate (``model.name: surrogate``) is an ``aurora.Aurora`` with the tiny
architecture (:data:`aurora_xai.model.TINY_ARCH`) whose decoder predicts the 6-hour
change in Aurora's normalised units: the decoder's output is the batch's current step
(the last history step), plus a learned coefficient per field ``k_v`` times the last
6-hour change (the current step minus the history step), plus the Perceiver decoder's
own output ``d`` times a fixed increment scale per field ``c_v``, all normalised.
After Aurora's unnormalisation this is
``x(t) + k_v * (x(t) - x(t - 6 h)) + scale_v * c_v * d``: the model forecasts the
current state, the last change extrapolated, and a learned increment. ``k_v`` and ``c_v`` are kept per surface variable and per atmospheric variable
and pressure level (ERA5's 37 levels, :data:`PRESSURE_LEVELS`). ``c_v`` (buffers
``surf_increment_scale`` and ``atmos_increment_scale`` of the decoder, in the order of its
``surf_vars`` and ``atmos_vars``; ones in an untrained model) is the root mean square of
the field's 6-hour change in normalised units on the training samples, set once before
training
(:func:`aurora_xai.surrogate.train.increment_scales`), so that ``d`` has about unit
variance for every variable.

The residual sits inside the decoder module (:class:`ResidualPerceiver3DDecoder`, a
subclass of Aurora's ``Perceiver3DDecoder`` with the same parameters), so every use of the
model sees the same function: a forward pass, forecast targets read at the decoder's
output (attribution), taps and pushes inside the backbone (latents, interventions), and
masked inputs (perturbation). Its state dict is the tiny architecture's plus the two
increment-scale buffers and the two trend coefficients (``surf_trend``, ``atmos_trend``).

For attribution the residual is a linear path from the two history steps' inputs to the
forecast: in gradient-times-input form it gives each current-step input cell exactly
``(1 + k_v)`` times its own normalised value times the target's weight there, each
history-step cell ``-k_v`` times its value times that weight, and absorbs nothing; the
increment scale is a constant factor on the decoder's output and absorbs nothing either.
"""

from __future__ import annotations

from typing import Any

import aurora
import torch
from aurora.model.decoder import Perceiver3DDecoder

__all__ = ["PRESSURE_LEVELS", "ResidualAurora", "ResidualPerceiver3DDecoder", "level_index"]

#: ERA5's 37 pressure levels (hPa): the levels an atmospheric variable's increment scale
#: and trend coefficient are kept for (one value per variable and level).
PRESSURE_LEVELS: tuple[int, ...] = (
    1, 2, 3, 5, 7, 10, 20, 30, 50, 70, 100, 125, 150, 175, 200, 225, 250, 300, 350,
    400, 450, 500, 550, 600, 650, 700, 750, 775, 800, 825, 850, 875, 900, 925, 950, 975, 1000,
)  # fmt: skip


def level_index(levels: Any) -> torch.Tensor:
    """Positions of ``levels`` (hPa) in :data:`PRESSURE_LEVELS`.

    Raises:
        ValueError: a level is not one of ERA5's pressure levels, naming ``data.levels``.
    """
    out = []
    for lv in levels:
        if float(lv) not in PRESSURE_LEVELS:
            raise ValueError(f"data.levels: the surrogate knows ERA5's pressure levels {PRESSURE_LEVELS}, not {lv}")
        out.append(PRESSURE_LEVELS.index(int(float(lv))))
    return torch.tensor(out, dtype=torch.long)


class ResidualPerceiver3DDecoder(Perceiver3DDecoder):
    """Aurora's Perceiver decoder as an increment on the batch's current step (normalised units).

    ``forward(x, batch, patch_res, lead_times)`` as Aurora's decoder: ``batch`` is the
    normalised, cropped batch (surface variables ``(B, T, H, W)``, atmospheric
    ``(B, T, C, H, W)``); each of the prediction's surface variables ``(B, H, W)`` and
    atmospheric ones ``(B, C, H, W)`` is multiplied by its increment scale
    (``surf_increment_scale``, ``atmos_increment_scale``) and added to ``batch``'s step
    ``T - 1`` plus its trend term: a learned coefficient per surface variable and per
    atmospheric variable and level (``surf_trend``, ``atmos_trend``; zero when untrained)
    times the last change, step ``T - 1`` minus step ``T - 2`` (none with one history
    step). Atmospheric scales and coefficients ``(variables, 37)`` are read at the batch's
    levels (:func:`level_index`).
    """

    surf_increment_scale: torch.Tensor
    atmos_increment_scale: torch.Tensor
    surf_trend: torch.nn.Parameter
    atmos_trend: torch.nn.Parameter

    def forward(self, x: Any, batch: Any, *args: Any, **kwargs: Any) -> Any:
        import dataclasses

        pred = super().forward(x, batch, *args, **kwargs)
        cs = dict(zip(self.surf_vars, self.surf_increment_scale))
        ts = dict(zip(self.surf_vars, self.surf_trend))
        idx = level_index(batch.metadata.atmos_levels)  # per (variable, level): (C, 1, 1) each
        ca = {k: c[idx][:, None, None] for k, c in zip(self.atmos_vars, self.atmos_increment_scale)}
        ta = {k: t[idx][:, None, None] for k, t in zip(self.atmos_vars, self.atmos_trend)}

        def step(x: torch.Tensor, k: torch.Tensor, c: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
            now = x[:, -1].to(d.dtype)
            out = now + c.to(d.dtype) * d
            if x.shape[1] > 1:  # the last change extrapolated
                out = out + k.to(d.dtype) * (now - x[:, -2].to(d.dtype))
            return out

        return dataclasses.replace(
            pred,
            surf_vars={k: step(batch.surf_vars[k], ts[k], cs[k], v) for k, v in pred.surf_vars.items()},
            atmos_vars={k: step(batch.atmos_vars[k], ta[k], ca[k], v) for k, v in pred.atmos_vars.items()},
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
        n_atmos, n_levels = len(self.decoder.atmos_vars), len(PRESSURE_LEVELS)
        self.decoder.register_buffer("atmos_increment_scale", torch.ones(n_atmos, n_levels))
        self.decoder.surf_trend = torch.nn.Parameter(torch.zeros(len(self.decoder.surf_vars)))
        self.decoder.atmos_trend = torch.nn.Parameter(torch.zeros(n_atmos, n_levels))
