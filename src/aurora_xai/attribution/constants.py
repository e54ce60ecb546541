"""Aurora's additive constant terms: list them, or zero them for conservation checks.

The terms are described in :mod:`aurora_xai.attribution.lrp`. Zeroing them changes
the model; it is meant for checking that the LRP implementation conserves relevance
(on a copy of the tiny model), not for analyses.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["constant_term_parameters", "zero_constant_terms"]


def _adaln_type() -> type | None:
    try:
        from aurora.model.film import AdaptiveLayerNorm
    except ImportError:  # pragma: no cover
        return None
    return AdaptiveLayerNorm


def _patch_embed_type() -> type | None:
    try:
        from aurora.model.patchembed import LevelPatchEmbed
    except ImportError:  # pragma: no cover
        return None
    return LevelPatchEmbed


def constant_term_parameters(model: nn.Module) -> dict[str, list[str]]:
    """Names of the parameters that inject additive constants, grouped by kind.

    For the adaptive layer norms only the rows of the modulation layer that produce
    the shift are listed (``<name>.weight[:dim]`` and ``<name>.bias[:dim]``); the scale
    rows give a multiplicative constant, which absorbs no relevance.
    """
    adaln = _adaln_type()
    patch_embed = _patch_embed_type()
    groups: dict[str, list[str]] = {
        "bias": [],
        "norm_bias": [],
        "modulation_shift": [],
        "embeddings": [],
    }
    adaln_mods = set()
    if adaln is not None:
        for name, m in model.named_modules():
            if isinstance(m, adaln):
                adaln_mods.add(f"{name}.ln_modulation.1")
                groups["modulation_shift"].append(f"{name}.ln_modulation.1[:{m.ln.normalized_shape[0]}]")
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear) and m.bias is not None and name not in adaln_mods:
            groups["bias"].append(f"{name}.bias")
        elif isinstance(m, nn.LayerNorm) and m.bias is not None:
            groups["norm_bias"].append(f"{name}.bias")
        elif patch_embed is not None and isinstance(m, patch_embed):
            groups["bias"].append(f"{name}.bias")
    encoder = getattr(model, "encoder", None)
    if encoder is not None and hasattr(encoder, "surf_level_encoding"):
        groups["embeddings"] += [
            "encoder.surf_level_encoding",
            "encoder.atmos_latents",
            "encoder.pos_embed.weight",
            "encoder.scale_embed.weight",
            "encoder.lead_time_embed.weight",
            "encoder.absolute_time_embed.weight",
            "encoder.atmos_levels_embed.weight",
        ]
    decoder = getattr(model, "decoder", None)
    if decoder is not None and hasattr(decoder, "atmos_levels_embed"):
        groups["embeddings"].append("decoder.atmos_levels_embed.weight")
    return groups


@torch.no_grad()
def zero_constant_terms(model: nn.Module) -> list[str]:
    """Set every additive constant of ``model`` to zero, in place; return what was zeroed.

    Zeroes: biases of all linear layers (those feeding only the time conditioning
    included) and of the patch embeddings, layer-norm shifts, the shift rows of the
    adaptive layer norms' modulation, Aurora's surface-level encoding and atmospheric
    latent queries, and the weights of the position, scale, lead-time, absolute-time
    and pressure-level embeddings (encoder and decoder). The latent and level queries
    then become zero, which makes the Perceiver attention weights uniform.
    """
    zeroed: list[str] = []
    adaln = _adaln_type()
    patch_embed = _patch_embed_type()
    for name, m in model.named_modules():
        if adaln is not None and isinstance(m, adaln):
            lin = m.ln_modulation[-1]
            dim = m.ln.normalized_shape[0]
            lin.weight[:dim].zero_()
            if lin.bias is not None:
                lin.bias[:dim].zero_()
            zeroed.append(f"{name}.ln_modulation.1[:{dim}]")
    for name, m in model.named_modules():
        if isinstance(m, (nn.Linear, nn.LayerNorm)) and m.bias is not None:
            if adaln is not None and name.endswith("ln_modulation.1"):
                continue  # only the shift rows (above); the scale rows are multiplicative
            m.bias.zero_()
            zeroed.append(f"{name}.bias")
        elif patch_embed is not None and isinstance(m, patch_embed):
            m.bias.zero_()
            zeroed.append(f"{name}.bias")
    params = dict(model.named_parameters())
    for name in constant_term_parameters(model)["embeddings"]:
        params[name].zero_()
        zeroed.append(name)
    return zeroed
