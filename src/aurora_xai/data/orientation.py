"""North-south orientation of a time step told from its data: 2 m temperature against the
orography as stored and as mirrored (high ground is cold: the lapse-rate signature).

:class:`~aurora_xai.data.era5.ERA5Source` uses it for stores known to hold time steps
written mirrored under a correct latitude coordinate.
"""

from __future__ import annotations

import numpy as np

from ..grid import lat_weights

__all__ = ["FLIP_MARGIN", "latitude_flip_score"]

#: Margin by which the mirrored orography correlation must beat the stored one to flip.
FLIP_MARGIN = 0.3


def latitude_flip_score(t2m: np.ndarray, z_surface: np.ndarray, lat: np.ndarray) -> tuple[float, float]:
    """How well 2 m temperature matches the orography as stored and north-south mirrored.

    Returns the area-weighted correlations of the zonal anomalies of ``t2m`` with those of
    ``z_surface`` and of ``z_surface[::-1]``. Over high ground the air is colder (about
    6.5 K per km), so a correctly oriented field correlates clearly negatively with the
    orography and hardly with its mirror image; a mirrored field the other way round.

    Args:
        t2m, z_surface: ``(lat, lon)`` fields on the same grid, latitude decreasing.
        lat: Latitudes, symmetric about the equator.
    """
    w = lat_weights(lat)[:, None]
    a = np.asarray(t2m, dtype=np.float64)
    a = a - a.mean(axis=1, keepdims=True)

    def corr(b: np.ndarray) -> float:
        b = np.asarray(b, dtype=np.float64)
        b = b - b.mean(axis=1, keepdims=True)
        den = np.sqrt(np.sum(w * a * a) * np.sum(w * b * b))
        return float(np.sum(w * a * b) / den) if den > 0 else 0.0

    return corr(z_surface), corr(z_surface[::-1])
