"""The named-event catalogue: storms with a track, a box and a case time, from the config.

The catalogue lives in one place, the config's ``storms:`` section (config/config.yaml,
config/study.yaml); :func:`catalogue_from_config` reads it into :class:`StormEvent`
objects, each a :class:`~aurora_xai.data.synthetic.Storm` (kind, track of ``{time, lat,
lon, msl, wind}`` fixes; the synthetic generator plants these) plus a box and an
optional case time. The configured tracks of the study's events are approximate
transcriptions of the best tracks, good to a few tenths of a degree; for exact tracks
read the archive files (:mod:`aurora_xai.storms.best_track`) and turn a storm into a
config entry with :func:`storm_to_config`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..dates import utc_timestamp
from ..regions import Region
from .tracks import Storm, StormTrackPoint

__all__ = ["StormEvent", "catalogue_from_config", "storm_to_config"]


@dataclasses.dataclass(frozen=True)
class StormEvent:
    """A catalogued storm: its track, a box around it and an optional case time.

    Args:
        storm: Name, kind and track (the synthetic generator plants it).
        box: Region to look at (attribution targets, figures).
        case_time: The sample time the study examines (e.g. 1987-10-16 06 UTC).
        description: One line for captions.
    """

    storm: Storm
    box: Region
    case_time: pd.Timestamp | None = None
    description: str = ""

    @property
    def name(self) -> str:
        return self.storm.name

    @property
    def kind(self) -> str:
        return self.storm.kind

    @property
    def track(self) -> tuple[StormTrackPoint, ...]:
        return self.storm.track


def catalogue_from_config(cfg: Mapping[str, Mapping[str, Any]]) -> dict[str, StormEvent]:
    """Build the catalogue from the config's ``storms:`` section.

    An entry without ``box`` gets the track's extent plus 5 degrees; without
    ``case_time``, none.

    Raises:
        ValueError: an entry is malformed (unknown kind, a fix without a field, a bad
            box or time), naming the entry (``storms.<name>: ...``).
    """
    out: dict[str, StormEvent] = {}
    for name, entry in cfg.items():
        try:
            storm = Storm.from_config(name, entry)
            if entry.get("box"):
                b = entry["box"]
                box = Region(name, float(b["lat_min"]), float(b["lat_max"]), float(b["lon_min"]), float(b["lon_max"]))
            else:
                box = _track_box(name, storm.track)
            case = entry.get("case_time")
            out[name] = StormEvent(
                storm=storm,
                box=box,
                case_time=utc_timestamp(case) if case else None,
                description=str(entry.get("description", "")),
            )
        except (KeyError, ValueError, TypeError) as err:
            raise ValueError(f"storms.{name}: {err}") from None
    return out


def _track_box(name: str, track: Sequence[StormTrackPoint], margin: float = 5.0) -> Region:
    lats = [p.lat for p in track]
    lons = np.array([p.lon for p in track])
    # unwrap around the first fix so a track crossing 0 E gives a small box
    rel = (lons - lons[0] + 180) % 360 - 180
    lo, hi = lons[0] + rel.min() - margin, lons[0] + rel.max() + margin
    return Region(
        name,
        max(-90.0, min(lats) - margin),
        min(90.0, max(lats) + margin),
        lo % 360 if hi - lo < 360 else 0.0,
        hi % 360 if hi - lo < 360 else 360.0,
    )


def storm_to_config(
    storm: Storm, box: Region | None = None, case_time: Any = None, description: str = ""
) -> dict[str, Any]:
    """A catalogue entry (as in ``storms:``) for a storm read from a best-track file.

    Every value is a plain Python ``str``, ``float`` or ``list``/``dict`` of them, so the
    entry can be written with ``yaml.safe_dump`` (or JSON) into the config's ``storms:``
    section and read back by :func:`catalogue_from_config`. Positions are rounded to
    0.01 degree, pressure to 0.1 hPa, wind to 0.01 m/s; times are written to the minute
    (``YYYY-MM-DDTHH:MM``, UTC).

    Args:
        storm: The storm (e.g. from :func:`read_hurdat2` or :func:`read_ibtracs`).
        box: The entry's box; default the track's extent plus 5 degrees.
        case_time: The sample time the study examines (anything ``pd.Timestamp`` reads).
        description: One line for captions.
    """
    entry: dict[str, Any] = {
        "kind": str(storm.kind),
        "radius_deg": float(storm.radius_deg),
        "track": [
            {
                "time": f"{pd.Timestamp(p.time):%Y-%m-%dT%H:%M}",
                "lat": round(float(p.lat), 2),
                "lon": round(float(p.lon), 2),
                "msl": round(float(p.msl_hpa), 1),
                "wind": round(float(p.wind_ms), 2),
            }
            for p in storm.track
        ],
    }
    box = box or _track_box(storm.name, storm.track)
    entry["box"] = {k: float(getattr(box, k)) for k in ("lat_min", "lat_max", "lon_min", "lon_max")}
    if case_time is not None:
        entry["case_time"] = f"{pd.Timestamp(case_time):%Y-%m-%dT%H:%M}"
    if description:
        entry["description"] = str(description)
    return entry
