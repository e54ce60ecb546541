"""Pooling latent token grids over space and over named regions.

The study's pooling: per date, the mean, standard deviation and root-mean-square of the
tokens inside a region, per latent level and channel; optionally weighted by the cosine
of the patch-centre latitude so that each token counts by the area it covers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .regions import Region

__all__ = ["STATS", "pool_grid", "region_weights", "published_token_grid"]

STATS = ("mean", "std", "rms")


def region_weights(region: Region, lat: np.ndarray, lon: np.ndarray, area_weighted: bool) -> np.ndarray:
    """Weights ``(H, W)`` of the patches in ``region`` (zero outside), summing to 1.

    Raises:
        ValueError: if no patch centre lies in the region.
    """
    mask = region.mask(lat, lon).astype(np.float64)
    if area_weighted:
        mask = mask * np.cos(np.radians(lat))[:, None].clip(min=0.0)
    total = mask.sum()
    if total <= 0:
        raise ValueError(
            f"region {region.name!r} contains no latent patch centre "
            f"(patch spacing {abs(lat[1] - lat[0]) if len(lat) > 1 else 'n/a'} deg); enlarge the box"
        )
    return mask / total


def pool_grid(
    values: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    regions: Mapping[str, Region],
    area_weighted: bool = True,
    stats: Sequence[str] = STATS,
) -> np.ndarray:
    """Pool a token grid over each region.

    Args:
        values: ``(C, H, W, D)`` tokens (latent level, lat patch, lon patch, channel).
        lat: ``(H,)`` patch-centre latitudes.
        lon: ``(W,)`` patch-centre longitudes.
        regions: Regions to pool over, in output order.
        area_weighted: Weight tokens by cos(latitude).
        stats: Any of ``mean``, ``std``, ``rms``.

    Returns:
        ``(region, C, stat, D)`` float64 array.
    """
    c, h, w, d = values.shape
    if (h, w) != (len(lat), len(lon)):
        raise ValueError(f"grid {(h, w)} does not match coordinates {(len(lat), len(lon))}")
    unknown = set(stats) - set(STATS)
    if unknown:
        raise ValueError(f"latents.stats: unknown statistics {sorted(unknown)}; choose from {STATS}")
    x = values.astype(np.float64)
    out = np.empty((len(regions), c, len(stats), d))
    for r, region in enumerate(regions.values()):
        wts = region_weights(region, lat, lon, area_weighted)  # (H, W)
        mean = np.einsum("hw,chwd->cd", wts, x)
        sq = np.einsum("hw,chwd->cd", wts, x * x)
        for s, name in enumerate(stats):
            if name == "mean":
                out[r, :, s] = mean
            elif name == "std":
                out[r, :, s] = np.sqrt(np.maximum(sq - mean * mean, 0.0))
            else:
                out[r, :, s] = np.sqrt(sq)
    return out


def published_token_grid(values: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The published implementation's token geometry, reproduced for comparison only.

    That code reshaped tokens ordered ``(level, lat, lon)`` as ``(level * lat, lon)``,
    stacking the latent levels along latitude, and gave the stacked rows latitudes
    evenly spaced from the first to the last patch latitude. A latitude box then selects
    rows of the wrong levels at the wrong places (the "US" box lands near Antarctica for
    level 0).

    Args:
        values: ``(C, H, W, D)`` correctly shaped tokens.
        lat: ``(H,)`` true patch-centre latitudes.

    Returns:
        ``(1, C * H, W, D)`` tokens and the ``(C * H,)`` latitudes that code assigned.
    """
    c, h, w, d = values.shape
    stacked = values.reshape(1, c * h, w, d)
    return stacked, np.linspace(lat[0], lat[-1], c * h)
