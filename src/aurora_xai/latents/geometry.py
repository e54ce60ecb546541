"""The true geometry of Aurora's latent tokens.

Backbone tokens of shape ``(B, L, D)`` are ordered ``(latent level, lat patch, lon patch)``:
``L = C * H_k * W_k`` with ``C = 4`` latent levels (index 0 the surface level, 1-3 the
atmospheric latent levels) and ``H_k x W_k`` token rows and columns at backbone stage
``k``. They are reshaped to ``(B, C, H_k, W_k, D)`` here, never to ``(C * H_k, W_k)``,
and every token gets the latitude and longitude of the centre of the grid cells it
covers, and the latitude edges of its row, so that region masks select the regions they
name and area weights count each token by the area it covers.

Aurora first crops the grid to a multiple of the patch size (at most one latitude row,
the last), embeds ``patch x patch`` cells per token, and halves the token grid at each
backbone stage, padding an odd size at the end: a token of stage ``k`` covers
``2**k x 2**k`` patches, fewer at the last row or column.

Everything here works on NumPy arrays and imports without torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..grid import lat_cell_edges
from ..regions import Region

__all__ = [
    "LATENT_LEVEL_DIM",
    "LATENT_LEVEL_NAMES",
    "cropped_grid",
    "latent_token_mask",
    "patch_centres",
    "patch_lat_edges",
    "published_token_grid",
    "stage_resolutions",
    "token_resolution",
    "tokens_to_grid",
]

#: Names of Aurora's latent levels, in token order (0 the surface level).
LATENT_LEVEL_NAMES = ("surface", "atmos_1", "atmos_2", "atmos_3")

#: Dimension of the latent levels in pooled latents (never ``level``: those are hPa).
LATENT_LEVEL_DIM = "latent_level"


def cropped_grid(lat: np.ndarray, patch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes kept by Aurora's crop and a boolean flag of the dropped rows.

    Aurora drops the last (southernmost) row when ``len(lat) % patch_size == 1``.

    Args:
        lat: ``(H,)`` grid latitudes.
        patch_size: Aurora's patch size.

    Returns:
        ``(lat_kept, dropped)``: ``(H',)`` kept latitudes and an ``(H,)`` boolean array,
        true for the rows the crop drops.

    Raises:
        ValueError: if more than one row would have to be dropped (Aurora refuses).
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


def stage_resolutions(patch_res: tuple[int, int, int], n_stages: int) -> list[tuple[int, int, int]]:
    """Token resolution ``(C, H_k, W_k)`` of each backbone encoder stage ``k``.

    Args:
        patch_res: ``(C, H, W)``: latent levels and patch rows and columns of stage 0.
        n_stages: Number of encoder stages.

    Returns:
        ``n_stages`` resolutions; Aurora pads an odd size by one, then halves.
    """
    res = [tuple(patch_res)]
    for _ in range(1, n_stages):
        c, h, w = res[-1]
        res.append((c, (h + h % 2) // 2, (w + w % 2) // 2))
    return res  # type: ignore[return-value]


def token_resolution(
    lat: np.ndarray, lon: np.ndarray, patch_size: int, latent_levels: int, n_stages: int, stage: int
) -> tuple[int, int, int]:
    """Token resolution ``(C, H_k, W_k)`` of backbone ``stage`` on the grid ``(lat, lon)``.

    The one place that turns an input grid into a stage's token grid (Aurora's crop, the
    patches, the halvings of :func:`stage_resolutions`); its rows and columns are those of
    :func:`patch_centres` at the same stage.

    Args:
        lat: ``(H,)`` grid latitudes (before Aurora's crop).
        lon: ``(W,)`` grid longitudes.
        patch_size: Aurora's patch size.
        latent_levels: Aurora's latent levels ``C`` (4).
        n_stages: Number of backbone encoder stages.
        stage: The stage, ``0 <= stage < n_stages``.

    Raises:
        ValueError: as :func:`cropped_grid`, if ``W`` is not a multiple of the patch size,
            or for a stage out of range.
    """
    if not 0 <= stage < n_stages:
        raise ValueError(f"stage {stage} out of range for {n_stages} backbone stages")
    lat_kept, _ = cropped_grid(lat, patch_size)
    n_lon = len(_check_lon(lon, patch_size))
    patch_res = (int(latent_levels), len(lat_kept) // patch_size, n_lon // patch_size)
    return stage_resolutions(patch_res, n_stages)[stage]


def _blocks(n_cells: int, patch_size: int, stage: int) -> list[tuple[int, int]]:
    """Grid-cell index ranges ``[start, stop)`` covered by each token row (or column)."""
    n_patches = n_cells // patch_size
    n_tokens = stage_resolutions((1, n_patches, 1), stage + 1)[stage][1]
    f = patch_size * 2**stage
    return [(i * f, min((i + 1) * f, n_patches * patch_size)) for i in range(n_tokens)]


def _check_lon(lon: np.ndarray, patch_size: int) -> np.ndarray:
    lon = np.asarray(lon, dtype=np.float64)
    if len(lon) % patch_size:
        raise ValueError(f"{len(lon)} longitudes is not a multiple of the patch size {patch_size}")
    return lon


def patch_centres(
    lat: np.ndarray, lon: np.ndarray, patch_size: int = 4, stage: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Centre latitude and longitude of every token row and column at a backbone ``stage``.

    Args:
        lat: ``(H,)`` grid latitudes, decreasing; the crop is applied here.
        lon: ``(W,)`` grid longitudes in [0, 360), increasing.
        patch_size: Aurora's patch size.
        stage: 0 for the encoder output, the first stage and the backbone output; ``k``
            for encoder stage ``k``.

    Returns:
        ``(lat_c, lon_c)`` of shapes ``(H_k,)`` and ``(W_k,)``: the mean of the grid
        latitudes (longitudes) the token covers (a padded token only the real ones).

    Raises:
        ValueError: if the crop needs more than one row, or ``W`` is not a multiple of
            the patch size.
    """
    lat_kept, _ = cropped_grid(lat, patch_size)
    lon = _check_lon(lon, patch_size)
    lat_c = np.array([lat_kept[a:b].mean() for a, b in _blocks(len(lat_kept), patch_size, stage)])
    lon_c = np.array([lon[a:b].mean() for a, b in _blocks(len(lon), patch_size, stage)])
    return lat_c, lon_c


def patch_lat_edges(lat: np.ndarray, patch_size: int = 4, stage: int = 0) -> np.ndarray:
    """Latitude edges ``(H_k + 1,)`` of the token rows at a backbone ``stage``.

    A token row spans the grid rows it covers: from the upper edge of its first grid
    cell to the lower edge of its last one, with the cell edges of
    :func:`aurora_xai.grid.lat_cell_edges` on the grid as given (before the crop, so the
    last kept row ends halfway to the dropped one). Feed them to
    :func:`aurora_xai.grid.band_weights` for the area of each token row.

    Args:
        lat: ``(H,)`` grid latitudes, strictly monotonic.
        patch_size: Aurora's patch size.
        stage: Backbone stage, as in :func:`patch_centres`.

    Raises:
        ValueError: as :func:`cropped_grid` and :func:`aurora_xai.grid.lat_cell_edges`.
    """
    lat_kept, _ = cropped_grid(lat, patch_size)
    edges = lat_cell_edges(lat)
    blocks = _blocks(len(lat_kept), patch_size, stage)
    return edges[[a for a, _ in blocks] + [blocks[-1][1]]]


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
    lat_c, lon_c = patch_centres(lat, lon, patch_size, stage)
    horiz = region.mask(lat_c, lon_c)  # (H_k, W_k)
    lev = np.ones(latent_levels, dtype=bool)
    if levels is not None:
        lev[:] = False
        lev[list(levels)] = True
    return (lev[:, None, None] & horiz[None]).reshape(-1)


def tokens_to_grid(tokens: Any, res: tuple[int, int, int]) -> np.ndarray:
    """Reshape tokens ``(B, C*H*W, D)`` (a torch tensor or an array) to ``(B, C, H, W, D)``.

    Raises:
        ValueError: if the number of tokens does not match ``res = (C, H, W)``.
    """
    c, h, w = res
    b, n, d = tokens.shape
    if n != c * h * w:
        raise ValueError(f"{n} tokens do not match the resolution {res} ({c * h * w} tokens)")
    if hasattr(tokens, "detach"):  # a torch tensor, on any device
        arr = tokens.detach().float().cpu().numpy()
    else:
        arr = np.asarray(tokens)
    return arr.reshape(b, c, h, w, d)


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
