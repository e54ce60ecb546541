"""Storm tracks: a named storm and its fixes (time, centre, central pressure, maximum wind).

The storm catalogue (:mod:`aurora_xai.storms.catalogue`), the best-track readers
(:mod:`aurora_xai.storms.best_track`) and the synthetic store's planted storms
(:mod:`aurora_xai.data.synthetic`) share these types.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..dates import utc_timestamp

__all__ = ["Storm", "StormTrackPoint"]


@dataclasses.dataclass(frozen=True)
class StormTrackPoint:
    """One fix of a storm track: time, centre, central pressure (hPa), max wind (m/s)."""

    time: pd.Timestamp
    lat: float
    lon: float
    msl_hpa: float
    wind_ms: float


@dataclasses.dataclass(frozen=True)
class Storm:
    """A named storm with a track; ``kind`` is ``extratropical`` or ``tropical``."""

    name: str
    kind: str
    track: tuple[StormTrackPoint, ...]
    radius_deg: float = 5.0

    def __post_init__(self) -> None:
        if self.kind not in ("extratropical", "tropical"):
            raise ValueError(f"storm {self.name!r}: kind must be extratropical or tropical")
        if len(self.track) < 2:
            raise ValueError(f"storm {self.name!r}: a track needs at least two fixes")
        times = [p.time for p in self.track]
        if any(b <= a for a, b in zip(times, times[1:])):
            raise ValueError(f"storm {self.name!r}: track times must increase")

    @classmethod
    def from_config(cls, name: str, cfg: Mapping[str, Any]) -> Storm:
        """Build from a catalogue entry ``{kind, radius_deg?, track: [{time, lat, lon, msl, wind}]}``.

        Times with an offset (``1987-10-16T06:00Z``, ``...+01:00``) are converted to UTC.
        """
        track = tuple(
            StormTrackPoint(
                time=utc_timestamp(p["time"]),
                lat=float(p["lat"]),
                lon=float(p["lon"]) % 360,
                msl_hpa=float(p["msl"]),
                wind_ms=float(p["wind"]),
            )
            for p in cfg["track"]
        )
        return cls(
            name=name,
            kind=str(cfg.get("kind", "extratropical")),
            track=track,
            radius_deg=float(cfg.get("radius_deg", 5.0 if cfg.get("kind") != "tropical" else 3.5)),
        )

    def state_at(self, time: pd.Timestamp) -> StormTrackPoint | None:
        """Track position interpolated linearly in time (naive UTC; aware times converted); ``None`` outside the track."""
        t = utc_timestamp(time)
        pts = self.track
        if t < pts[0].time or t > pts[-1].time:
            return None
        for a, b in zip(pts, pts[1:]):
            if a.time <= t <= b.time:
                w = (t - a.time) / (b.time - a.time)
                dlon = ((b.lon - a.lon + 180) % 360) - 180
                return StormTrackPoint(
                    time=t,
                    lat=a.lat + w * (b.lat - a.lat),
                    lon=(a.lon + w * dlon) % 360,
                    msl_hpa=a.msl_hpa + w * (b.msl_hpa - a.msl_hpa),
                    wind_ms=a.wind_ms + w * (b.wind_ms - a.wind_ms),
                )
        return None
