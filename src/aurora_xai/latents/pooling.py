"""Pooling latent token grids over space and over named regions.

The study's pooling: per date, the mean, standard deviation and root-mean-square of the
tokens inside a region, per latent level and channel; optionally weighted by the exact
area of each token's patch (:func:`aurora_xai.grid.band_weights` of its latitude edges),
so that each token counts by the area it covers. Imports without torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..grid import band_weights, lat_cell_edges
from ..regions import Region

__all__ = ["STATS", "pool_grid", "region_weights"]

STATS = ("mean", "std", "rms")


def region_weights(
    region: Region,
    lat: np.ndarray,
    lon: np.ndarray,
    area_weighted: bool,
    lat_edges: np.ndarray | None = None,
) -> np.ndarray:
    """Weights ``(H, W)`` of the patches in ``region`` (zero outside), summing to 1.

    Args:
        region: Box selecting patches by their centre.
        lat: ``(H,)`` patch-centre latitudes.
        lon: ``(W,)`` patch-centre longitudes.
        area_weighted: Weight each patch by its exact area (else equal weights).
        lat_edges: ``(H + 1,)`` latitude edges of the patch rows
            (:func:`~aurora_xai.latents.geometry.patch_lat_edges`); default halfway
            between the centres (:func:`aurora_xai.grid.lat_cell_edges`).

    Raises:
        ValueError: if no patch centre lies in the region, or ``lat_edges`` does not
            have ``H + 1`` values.
    """
    mask = region.mask(lat, lon).astype(np.float64)
    if area_weighted:
        edges = lat_cell_edges(lat) if lat_edges is None else np.asarray(lat_edges, dtype=np.float64)
        if edges.shape != (len(lat) + 1,):
            raise ValueError(f"{edges.size} latitude edges for {len(lat)} patch rows (need {len(lat) + 1})")
        mask = mask * band_weights(edges)[:, None]
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
    lat_edges: np.ndarray | None = None,
) -> np.ndarray:
    """Pool a token grid over each region.

    Args:
        values: ``(C, H, W, D)`` tokens (latent level, lat patch, lon patch, channel).
        lat: ``(H,)`` patch-centre latitudes.
        lon: ``(W,)`` patch-centre longitudes.
        regions: Regions to pool over, in output order.
        area_weighted: Weight tokens by the exact area of their patch.
        stats: Any of ``mean``, ``std``, ``rms``.
        lat_edges: ``(H + 1,)`` latitude edges of the patch rows (see
            :func:`region_weights`).

    Returns:
        ``(region, C, stat, D)`` float64 array.

    Raises:
        ValueError: if the grid does not match the coordinates, for an unknown
            statistic (naming ``latents.stats``), or a region without a patch centre.
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
        wts = region_weights(region, lat, lon, area_weighted, lat_edges)  # (H, W)
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
