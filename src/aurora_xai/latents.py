"""Tapping latent tensors inside Aurora and giving them their true geometry.

Backbone tokens of shape ``(B, L, D)`` are ordered ``(latent level, lat patch, lon patch)``:
``L = C * H' * W'`` with ``C = 4`` latent levels (index 0 the surface level, 1-3 the
atmospheric latent levels) and ``H' x W'`` patches. They are reshaped to
``(B, C, H', W', D)`` here, never to ``(C * H', W')``, and every patch gets the latitude
and longitude of its centre, so region masks select the regions they name.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import numpy as np
import torch

__all__ = [
    "TAPS",
    "LatentGrid",
    "tap_names",
    "patch_centres",
    "stage_resolutions",
    "capture_latents",
    "tokens_to_grid",
    "LATENT_LEVEL_NAMES",
]

LATENT_LEVEL_NAMES = ("surface", "atmos_1", "atmos_2", "atmos_3")

#: Tap names: the encoder output, each backbone encoder stage (``bottleneck`` is the
#: deepest), and the backbone output (after the U-Net decoder and the concatenation
#: with the first skip; the published study's choice).
TAPS = ("encoder", "backbone.encoder.0", "backbone.encoder.1", "backbone.encoder.2", "bottleneck", "backbone")


def tap_names(model: torch.nn.Module) -> tuple[str, ...]:
    """Tap names valid for ``model`` (the number of encoder stages varies)."""
    n = len(model.backbone.encoder_layers)
    return ("encoder",) + tuple(f"backbone.encoder.{i}" for i in range(n)) + ("bottleneck", "backbone")


@dataclasses.dataclass(frozen=True)
class LatentGrid:
    """Latent tokens with geometry.

    Attributes:
        values: ``(C, H', W', D)`` token features for one sample.
        lat: ``(H',)`` patch-centre latitudes, decreasing.
        lon: ``(W',)`` patch-centre longitudes in [0, 360).
        tap: Where the tokens were taken.
    """

    values: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    tap: str


def _block_centres(coord: np.ndarray, size: int) -> np.ndarray:
    n = len(coord) // size
    return coord[: n * size].reshape(n, size).mean(axis=1)


def _merge_centres(centres: np.ndarray) -> np.ndarray:
    """Centres after Aurora's 2x patch merging, which pads odd sizes at the end."""
    n = len(centres)
    out = [centres[i : i + 2].mean() for i in range(0, n, 2)]
    return np.asarray(out)


def stage_resolutions(patch_res: tuple[int, int, int], n_stages: int) -> list[tuple[int, int, int]]:
    """Token resolution ``(C, H, W)`` of each backbone encoder stage (as Aurora pads)."""
    res = [patch_res]
    for _ in range(1, n_stages):
        c, h, w = res[-1]
        res.append((c, (h + h % 2) // 2, (w + w % 2) // 2))
    return res


def patch_centres(
    lat: np.ndarray, lon: np.ndarray, patch_size: int = 4, stage: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Patch-centre coordinates of the tokens at an encoder ``stage``.

    Args:
        lat: ``(H,)`` grid latitudes, decreasing; rows beyond a multiple of the patch
            size are cropped as the model does.
        lon: ``(W,)`` grid longitudes in [0, 360), increasing.
        patch_size: Aurora's patch size.
        stage: 0 for the encoder output and the first stage, ``i`` for stage ``i``.

    Returns:
        ``(lat_c, lon_c)`` of shapes ``(H_i,)`` and ``(W_i,)``.
    """
    lat_c = _block_centres(np.asarray(lat, dtype=np.float64), patch_size)
    lon_c = _block_centres(np.asarray(lon, dtype=np.float64), patch_size)
    for _ in range(stage):
        lat_c, lon_c = _merge_centres(lat_c), _merge_centres(lon_c)
    return lat_c, lon_c


def tokens_to_grid(tokens: torch.Tensor | np.ndarray, res: tuple[int, int, int]) -> np.ndarray:
    """Reshape tokens ``(B, C*H*W, D)`` to ``(B, C, H, W, D)``."""
    c, h, w = res
    b, n, d = tokens.shape
    if n != c * h * w:
        raise ValueError(f"{n} tokens do not match the resolution {res} ({c * h * w} tokens)")
    arr = tokens.detach().float().cpu().numpy() if isinstance(tokens, torch.Tensor) else np.asarray(tokens)
    return arr.reshape(b, c, h, w, d)


@contextlib.contextmanager
def capture_latents(model: torch.nn.Module, tap: str) -> Iterator[dict[str, object]]:
    """Record the tokens at ``tap`` during forward passes inside the block.

    Yields a dict that, after a forward pass, holds ``tokens`` (``(B, L, D)`` tensor) and
    ``stage`` (the encoder stage whose resolution applies). The hook is removed on exit.
    """
    names = tap_names(model)
    if tap not in names:
        raise ValueError(f"latents.tap: unknown tap {tap!r}; choose one of {names}")
    box: dict[str, object] = {}
    n_stages = len(model.backbone.encoder_layers)
    if tap == "encoder":
        module, stage = model.encoder, 0
    elif tap == "backbone":
        module, stage = model.backbone, 0
    else:
        stage = n_stages - 1 if tap == "bottleneck" else int(tap.rsplit(".", 1)[1])
        module = model.backbone.encoder_layers[stage]

    def hook(_mod, _inp, out):
        if isinstance(out, tuple):  # encoder stages return (downsampled, stage output)
            out = out[1] if out[1] is not None else out[0]
        box["tokens"] = out.detach()
        box["stage"] = stage

    handle = module.register_forward_hook(hook)
    try:
        yield box
    finally:
        handle.remove()
