"""Latitude-longitude grid helpers: cell edges and exact cell-area latitude weights.

The area of a cell between latitudes ``phi_1 < phi_2`` (and any fixed longitude span)
is proportional to ``sin(phi_2) - sin(phi_1)``, the integral of ``cos(phi)`` over the
cell. Weights here are that integral, normalised to mean 1, as WeatherBench 2's
``get_lat_weights``; unlike ``cos`` at the cell centre they stay exact for the polar
cells, for cells cropped at the pole and for token patches of unequal height.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .regions import Region

__all__ = ["band_weights", "lat_cell_edges", "lat_weights", "region_cell_weights"]


def lat_cell_edges(lat: np.ndarray) -> np.ndarray:
    """Edges ``(H + 1,)`` of the latitude cells centred on ``lat``, in degrees.

    Inner edges lie halfway between neighbouring centres; the outer edges half a spacing
    beyond the first and last centre, clipped at the poles (a grid from 90 to -90 gets
    edges 90, 90 - d/2, ..., -90 + d/2, -90). The edges run in the order of ``lat``.

    Args:
        lat: ``(H,)`` cell-centre latitudes in degrees, strictly increasing or strictly
            decreasing, within [-90, 90].

    Raises:
        ValueError: if ``lat`` is empty, not one-dimensional, not strictly monotonic,
            or outside [-90, 90].
    """
    lat = np.asarray(lat, dtype=np.float64)
    if lat.ndim != 1 or lat.size == 0:
        raise ValueError(f"latitudes must be a non-empty 1-D array, got shape {lat.shape}")
    if np.any(np.abs(lat) > 90.0):
        raise ValueError(f"latitudes outside [-90, 90]: {lat[np.abs(lat) > 90.0][:5].tolist()}")
    if lat.size == 1:  # one cell: the whole sphere
        return np.array([90.0, -90.0])
    step = np.diff(lat)
    if not (np.all(step > 0) or np.all(step < 0)):
        raise ValueError("latitudes must be strictly increasing or strictly decreasing")
    mid = (lat[:-1] + lat[1:]) / 2.0
    first = lat[0] - step[0] / 2.0
    last = lat[-1] + step[-1] / 2.0
    return np.clip(np.concatenate([[first], mid, [last]]), -90.0, 90.0)


def band_weights(edges: np.ndarray) -> np.ndarray:
    """Area weights ``(N,)`` of the latitude bands between consecutive ``edges``, mean 1.

    Band ``i`` spans ``edges[i]`` to ``edges[i + 1]`` (either order); its weight is
    ``|sin(edges[i + 1]) - sin(edges[i])|``, the integral of cos(latitude) over the band,
    divided by the mean over the bands.

    Args:
        edges: ``(N + 1,)`` band edges in degrees within [-90, 90], monotonic.

    Raises:
        ValueError: if fewer than two edges are given, or every band has zero area.
    """
    edges = np.asarray(edges, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2:
        raise ValueError(f"band edges must be a 1-D array of at least 2 values, got shape {edges.shape}")
    area = np.abs(np.diff(np.sin(np.deg2rad(np.clip(edges, -90.0, 90.0)))))
    if not area.sum() > 0:
        raise ValueError("latitude bands of zero total area")
    return area / area.mean()


def lat_weights(lat: np.ndarray) -> np.ndarray:
    """Exact cell-area weights ``(H,)`` of the cells centred on ``lat``, normalised to mean 1.

    The weight of a cell is ``sin(upper edge) - sin(lower edge)`` with the edges of
    :func:`lat_cell_edges` (halfway between centres, clipped at the poles), divided by
    the mean over the cells: WeatherBench 2's ``get_lat_weights``, for grids in either
    latitude order and for grids that do not reach the poles.

    Args:
        lat: ``(H,)`` cell-centre latitudes in degrees (see :func:`lat_cell_edges`).

    Raises:
        ValueError: as :func:`lat_cell_edges`.
    """
    return band_weights(lat_cell_edges(lat))


def region_cell_weights(
    region: Region,
    lat: np.ndarray,
    lon: np.ndarray,
    area_weighted: bool = True,
    grid: str = "grid",
    key: str = "",
) -> np.ndarray:
    """Weights ``(H, W)`` summing to 1 over the cells of ``(lat, lon)`` centred in ``region``.

    With ``area_weighted`` each cell counts by its exact area (:func:`lat_weights`),
    otherwise all cells equally; cells outside the region weigh 0.

    Args:
        region: The box (``Region.mask`` selects cells by their centre).
        lat, lon: ``(H,)`` and ``(W,)`` cell-centre coordinates in degrees.
        area_weighted: Weight by cell area.
        grid, key: What the grid is and the config key of the region, for the error.

    Raises:
        ValueError: if no cell centre lies in the region (naming ``key``, the region and
            the grid).
    """
    mask = region.mask(lat, lon)
    if not mask.any():
        where = f"{key}: " if key else ""
        raise ValueError(f"{where}region {region.name!r} contains no cell of the {grid}")
    w = mask.astype(np.float64)
    if area_weighted:
        w = w * lat_weights(np.asarray(lat, dtype=np.float64))[:, None]
    return w / w.sum()
