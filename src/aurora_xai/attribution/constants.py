"""Aurora's additive constant terms: the relevance they absorb, and zeroing them.

Conservation. In the gradient-times-input form every LRP rule passes on the relevance
it receives except for what constant terms absorb. Aurora injects constants at:

* biases of linear layers and of the patch-embedding convolution (``bias``);
* affine shifts of layer norms (``norm_bias``);
* the time-conditioned shift of the Swin blocks' adaptive layer norms
  (``modulation_shift``; their scale is a constant factor and absorbs nothing);
* the learned surface-level encoding added to surface tokens (``surf_level_encoding``);
* the pressure-level embedding added to atmospheric tokens (``atmos_level_embedding``);
* the learned latent queries of the level aggregation, which also enter its residual
  connection (``atmos_latents``);
* position and patch-area embeddings (``position_scale_embedding``), lead-time and
  absolute-time embeddings (``lead_time_embedding``, ``absolute_time_embedding``);
* the decoder's pressure-level queries, also on its residual path
  (``decoder_level_queries``);
* the epsilon stabiliser (``epsilon``) and, for AttnLRP, the softmax rule's bias term
  together with the additive shifted-window mask (``softmax``).

The rule primitives log the first three and the last two in the
:class:`~aurora_xai.attribution.rules.Ledger`; :func:`aurora_constant_terms` logs
Aurora's embeddings and queries, which no generic rule sees. The normalisation offsets
absorb nothing because relevance is attributed to the normalised values. With all of
them present ``sum(R) + sum(absorbed) == target`` holds to rounding; with all of them
set to zero (:func:`zero_constant_terms`) CP-LRP conserves exactly, AttnLRP does not,
because its softmax rule is not conservative.

Zeroing the terms changes the model; it is meant for checking that the LRP
implementation conserves relevance (on a copy of the tiny model), not for analyses.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from aurora.model.film import AdaptiveLayerNorm
from aurora.model.patchembed import LevelPatchEmbed
from torch import nn

from aurora_xai.attribution.rules import Ledger

__all__ = ["aurora_constant_terms", "zero_constant_terms"]

#: Aurora's embedding tables and learned queries (encoder and decoder), by parameter name.
EMBEDDINGS = (
    "encoder.surf_level_encoding",
    "encoder.atmos_latents",
    "encoder.pos_embed.weight",
    "encoder.scale_embed.weight",
    "encoder.lead_time_embed.weight",
    "encoder.absolute_time_embed.weight",
    "encoder.atmos_levels_embed.weight",
    "decoder.atmos_levels_embed.weight",
)


@contextlib.contextmanager
def aurora_constant_terms(model: nn.Module, ledger: Ledger) -> Iterator[None]:
    """Log the relevance absorbed by Aurora's additive constant tensors.

    A constant ``c`` added to a tensor whose gradient is ``g`` absorbs ``sum(c * g)``.
    Forward hooks capture the constants and register gradient hooks on tensors whose
    gradient equals that of the sum. Models without Aurora's encoder are left alone.
    Must be entered after :func:`~aurora_xai.attribution.patching.lrp_rules` (its hooks must
    see the gated outputs).
    """
    encoder = getattr(model, "encoder", None)
    decoder = getattr(model, "decoder", None)
    if encoder is None or not hasattr(encoder, "surf_level_encoding"):
        yield
        return
    handles: list[Any] = []
    captured: dict[str, torch.Tensor] = {}

    def capture(name: str):
        def hook(mod: nn.Module, args: Any, out: torch.Tensor) -> None:
            captured[name] = out.detach()

        return hook

    def on_grad(out: torch.Tensor, fn) -> None:
        if torch.is_tensor(out) and out.requires_grad:
            out.register_hook(lambda g: (fn(g), None)[1])

    for name in ("pos_embed", "scale_embed", "lead_time_embed", "absolute_time_embed"):
        handles.append(getattr(encoder, name).register_forward_hook(capture(name)))
    handles.append(encoder.atmos_levels_embed.register_forward_hook(capture("enc_levels")))

    def surf_hook(mod: nn.Module, args: Any, out: torch.Tensor) -> None:
        enc = encoder.surf_level_encoding.detach().to(out.dtype)
        on_grad(out, lambda g: ledger.add("surf_level_encoding", (g * enc).sum()))

    def atmos_hook(mod: nn.Module, args: Any, out: torch.Tensor) -> None:
        if encoder.level_condition:
            return  # level-conditioned embeddings: not accounted (shape differs)

        def fn(g: torch.Tensor) -> None:
            e = captured["enc_levels"].to(g.dtype)  # (C_A, D)
            C = e.shape[0]
            gv = g.reshape(-1, C, *g.shape[1:])  # (B, C_A, L, D)
            ledger.add("atmos_level_embedding", (gv * e[None, :, None, :]).sum())

        on_grad(out, fn)

    def latents_hook(mod: nn.Module, args: Any, out: torch.Tensor) -> None:
        lat = encoder.atmos_latents.detach()

        def fn(g: torch.Tensor) -> None:
            ledger.add("atmos_latents", (g * lat.to(g.dtype)[None]).sum())

        on_grad(out, fn)

    def encoder_out_hook(mod: nn.Module, args: Any, out: torch.Tensor) -> None:
        def fn(g: torch.Tensor) -> None:
            B, Lp, D = g.shape
            pos = captured["pos_embed"].to(g.dtype)  # (1, 1, L, D)
            scl = captured["scale_embed"].to(g.dtype)
            L = pos.shape[-2]
            gv = g.reshape(B, Lp // L, L, D)
            ledger.add("position_scale_embedding", (gv * (pos + scl)).sum())
            gs = g.sum(dim=1)  # (B, D)
            ledger.add("lead_time_embedding", (gs * captured["lead_time_embed"].to(g.dtype)).sum())
            ledger.add("absolute_time_embedding", (gs * captured["absolute_time_embed"].to(g.dtype)).sum())

        on_grad(out, fn)

    handles.append(encoder.surf_token_embeds.register_forward_hook(surf_hook))
    handles.append(encoder.atmos_token_embeds.register_forward_hook(atmos_hook))
    if encoder.level_agg.residual_latent:
        handles.append(encoder.level_agg.layers[0][2].register_forward_hook(latents_hook))
    handles.append(encoder.register_forward_hook(encoder_out_hook))

    if decoder is not None and hasattr(decoder, "level_decoder"):
        handles.append(decoder.atmos_levels_embed.register_forward_hook(capture("dec_levels")))

        def dec_hook(mod: nn.Module, args: Any, out: torch.Tensor) -> None:
            def fn(g: torch.Tensor) -> None:
                e = captured["dec_levels"].to(g.dtype)  # (C_A, D)
                ledger.add("decoder_level_queries", (g * e[None]).sum())

            on_grad(out, fn)

        if decoder.level_decoder.residual_latent:
            handles.append(decoder.level_decoder.layers[0][2].register_forward_hook(dec_hook))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def zero_constant_terms(model: nn.Module) -> list[str]:
    """Set every additive constant of ``model`` to zero, in place; return what was zeroed.

    Zeroes: biases of all linear layers (those feeding only the time conditioning
    included) and of the patch embeddings, layer-norm shifts, the shift rows of the
    adaptive layer norms' modulation, Aurora's surface-level encoding and atmospheric
    latent queries, and the weights of the position, scale, lead-time, absolute-time
    and pressure-level embeddings (encoder and decoder; :data:`EMBEDDINGS` that the
    model has). The latent and level queries then become zero, which makes the
    Perceiver attention weights uniform.
    """
    zeroed: list[str] = []
    for name, m in model.named_modules():
        if isinstance(m, AdaptiveLayerNorm):
            lin = m.ln_modulation[-1]
            dim = m.ln.normalized_shape[0]
            lin.weight[:dim].zero_()
            if lin.bias is not None:
                lin.bias[:dim].zero_()
            zeroed.append(f"{name}.ln_modulation.1[:{dim}]")
    for name, m in model.named_modules():
        if isinstance(m, (nn.Linear, nn.LayerNorm)) and m.bias is not None:
            if name.endswith("ln_modulation.1"):
                continue  # only the shift rows (above); the scale rows are multiplicative
            m.bias.zero_()
            zeroed.append(f"{name}.bias")
        elif isinstance(m, LevelPatchEmbed):
            m.bias.zero_()
            zeroed.append(f"{name}.bias")
    params = dict(model.named_parameters())
    for name in EMBEDDINGS:
        if name in params:
            params[name].zero_()
            zeroed.append(name)
    return zeroed
