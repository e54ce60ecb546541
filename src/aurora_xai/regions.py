"""Named latitude/longitude boxes, including boxes that cross the prime meridian."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["Region", "GLOBE", "regions_from_config"]


@dataclasses.dataclass(frozen=True)
class Region:
    """A latitude/longitude box.

    Longitudes are in degrees east and are wrapped to [0, 360). A box with
    ``lon_min > lon_max`` after wrapping crosses the prime meridian (Europe:
    ``lon_min=348, lon_max=45``). ``lon_min == lon_max`` is not allowed except for the
    full circle, written ``lon_min=0, lon_max=360``.

    Args:
        name: Identifier used in file names and NetCDF coordinates.
        lat_min, lat_max: Latitude bounds in degrees north, ``lat_min < lat_max``.
        lon_min, lon_max: Longitude bounds in degrees east (any of -180..360).
    """

    name: str
    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float

    def __post_init__(self) -> None:
        if not -90 <= self.lat_min < self.lat_max <= 90:
            raise ValueError(
                f"region {self.name!r}: need -90 <= lat_min < lat_max <= 90, "
                f"got lat_min={self.lat_min}, lat_max={self.lat_max}"
            )
        if self.full_circle:
            return
        if not (-180 <= self.lon_min <= 360 and -180 <= self.lon_max <= 360):
            raise ValueError(
                f"region {self.name!r}: longitudes must lie in [-180, 360], "
                f"got lon_min={self.lon_min}, lon_max={self.lon_max}"
            )
        if self.lon_min % 360 == self.lon_max % 360:
            raise ValueError(f"region {self.name!r}: lon_min and lon_max coincide")

    @property
    def full_circle(self) -> bool:
        """Whether the box spans all longitudes."""
        return self.lon_max - self.lon_min >= 360

    @property
    def crosses_meridian(self) -> bool:
        """Whether the box crosses 0 degrees east."""
        return not self.full_circle and (self.lon_min % 360) > (self.lon_max % 360)

    def lat_mask(self, lat: np.ndarray) -> np.ndarray:
        """Boolean mask of shape ``lat.shape``: latitudes inside the box (inclusive)."""
        lat = np.asarray(lat, dtype=float)
        return (lat >= self.lat_min) & (lat <= self.lat_max)

    def lon_mask(self, lon: np.ndarray) -> np.ndarray:
        """Boolean mask of shape ``lon.shape``: longitudes inside the box (inclusive)."""
        lon = np.asarray(lon, dtype=float) % 360
        if self.full_circle:
            return np.ones(lon.shape, dtype=bool)
        lo, hi = self.lon_min % 360, self.lon_max % 360
        if lo < hi:
            return (lon >= lo) & (lon <= hi)
        return (lon >= lo) | (lon <= hi)

    def mask(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Boolean mask of shape ``(len(lat), len(lon))`` for 1-D coordinate vectors."""
        return self.lat_mask(lat)[:, None] & self.lon_mask(lon)[None, :]

    def contains(self, lat: float, lon: float) -> bool:
        """Whether one point lies in the box."""
        return bool(self.lat_mask(np.array([lat]))[0] and self.lon_mask(np.array([lon]))[0])

    def centre(self) -> tuple[float, float]:
        """Centre ``(lat, lon)`` of the box, longitude in [0, 360)."""
        lo, hi = self.lon_min % 360, self.lon_max % 360
        if self.full_circle:
            return (0.5 * (self.lat_min + self.lat_max), 180.0)
        width = (hi - lo) % 360
        return (0.5 * (self.lat_min + self.lat_max), (lo + 0.5 * width) % 360)


GLOBE = Region("globe", -90.0, 90.0, 0.0, 360.0)


def regions_from_config(cfg: Mapping[str, Mapping[str, Any]]) -> dict[str, Region]:
    """Build regions from a mapping ``name -> {lat_min, lat_max, lon_min, lon_max}``.

    The global region ``globe`` is always present.
    """
    out = {"globe": GLOBE}
    for name, box in cfg.items():
        out[name] = Region(
            name=name,
            lat_min=float(box["lat_min"]),
            lat_max=float(box["lat_max"]),
            lon_min=float(box["lon_min"]),
            lon_max=float(box["lon_max"]),
        )
    return out
