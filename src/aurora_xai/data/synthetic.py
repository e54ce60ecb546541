"""A synthetic ERA5 stand-in with planted structure, written in the WeatherBench 2 schema.

The store has the real WeatherBench 2 layout: dims ``(time, level, latitude, longitude)``,
latitude decreasing from 90, longitude increasing from 0, 6-hourly times, float32, the
WeatherBench 2 variable names and units, the static fields ``geopotential_at_surface``,
``land_sea_mask`` and ``soil_type``, and a few variables the study does not use (the real
store has about 62). It is a *test fixture*: every field is an analytic background, a
function of time and position plus seeded random synoptic variability, and four fields
carry a planted anomaly with known dynamics (:mod:`aurora_xai.data.dynamics`), so the
analyses have known structure to recover:

* a seasonal cycle that follows the sun: surface temperature peaks under the solar
  declination, land cools more in winter, the jets move poleward and weaken in summer;
* vertical structure: a 6.5 K/km lapse rate up to an isothermal stratosphere, geopotential
  integrated hydrostatically, winds growing with height to a jet near 250 hPa;
* synoptic variability: travelling Rossby waves (zonal wavenumbers 4-7) along the jets and
  seeded random extratropical cyclones, more and deeper in winter;
* storms from a catalogue (named events with a track) with a coherent 3-D structure: a
  surface low with strong 10 m winds, a cold core tilted westward with height for
  extratropical cyclones, a warm core for hurricanes;
* planted dynamics: the 500 hPa geopotential, the mean sea-level pressure, the 850 hPa
  temperature and the 10 m meridional wind carry an anomaly whose 6-hourly step is a known map
  ``F`` of the two previous steps plus seeded noise (advection by a fixed zonal flow, the
  sea-level pressure driven by the 500 hPa geopotential upstream, a ``tanh`` of the
  850 hPa temperature driving the 10 m wind, a history term, relaxation); the store
  records ``F`` as JSON in its ``planted_dynamics`` attribute, and
  :mod:`aurora_xai.truth` computes ``F`` and its exact attribution.

Everything is deterministic for a seed. The anomaly is integrated forward in time from
a spin-up before each run of consecutive times (see :mod:`aurora_xai.data.dynamics`):
:func:`synthetic_dataset` for any subset of times integrates from there, so a subset
equals the same times of the whole store.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..sections import from_section, section_defaults
from ..storms.tracks import Storm
from .dynamics import DEFAULT_DYNAMICS, DRIVEN, anomalies_at, integrate_anomaly, segments
from .variables import LEVELS, LONG_NAMES, UNITS

__all__ = [
    "PLANTED_STRUCTURES",
    "SyntheticSpec",
    "background_fields",
    "jet_latitudes",
    "planted_dynamics_attr",
    "planted_structures",
    "step_bytes",
    "synthetic_dataset",
    "write_synthetic_store",
]

log = logging.getLogger(__name__)

G = 9.80665  # m s-2
R_DRY = 287.05  # J kg-1 K-1
LAPSE = 0.0065  # K m-1
EARTH_RADIUS_KM = 6371.0
_EPOCH = pd.Timestamp("2000-01-01")


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
    """What synthetic store to write.

    Args:
        resolution: Grid spacing in degrees; ``180 / resolution`` must be an integer and
            the number of latitudes ``180 / resolution + 1`` must leave 0 or 1 row after
            division by Aurora's patch size 4 (e.g. 3.0 -> 61 latitudes).
        periods: Inclusive date ranges ``(start, end)`` covered with 6-hourly times.
        seed: Seed of all random components.
        storms: Named storms to insert.
        cyclones_per_day: Mean number of random extratropical cyclones spawned per day in
            each hemisphere's winter (half of it in summer).
        extra_variables: Also write variables the study does not use (as the real store has).
        compress: Compress chunks (zstd); off gives uncompressed chunks for byte counting.
        tropical_intensity: Fraction of a tropical storm's catalogued depth and wind that the
            coarse grid carries (a 3 degree grid cannot hold a 900 hPa eye; ERA5 itself
            underestimates hurricane intensity).
    """

    resolution: float
    periods: tuple[tuple[str, str], ...]
    seed: int
    storms: tuple[Storm, ...]
    cyclones_per_day: float
    extra_variables: bool
    compress: bool
    tropical_intensity: float

    @classmethod
    def from_schema(cls, **changes: Any) -> SyntheticSpec:
        """The ``synthetic`` section at the schema's defaults (seed 0, no storms,
        compressed chunks), with ``changes`` replacing any field: for tests and tools
        outside the workflow, which builds the spec from the config.
        """
        sec = section_defaults("synthetic")
        values: dict[str, Any] = {
            "seed": 0,
            "storms": (),
            "compress": True,
            "periods": tuple((str(a), str(b)) for a, b in sec["periods"]),
        }
        values.update(changes)
        return from_section(cls, "synthetic", sec, **values)

    def __post_init__(self) -> None:
        nlat = 180 / self.resolution
        if abs(nlat - round(nlat)) > 1e-9 or abs(360 / self.resolution - round(360 / self.resolution)) > 1e-9:
            raise ValueError(f"synthetic.resolution: 180 and 360 must be multiples of {self.resolution}")
        if (round(nlat) + 1) % 4 not in (0, 1):
            raise ValueError(
                f"synthetic.resolution: {self.resolution} deg gives {round(nlat) + 1} latitudes; "
                "Aurora needs a multiple of 4, or one more (the south pole is cropped)"
            )
        if round(360 / self.resolution) % 4:
            raise ValueError(f"synthetic.resolution: {round(360 / self.resolution)} longitudes is not a multiple of 4")
        for start, end in self.periods:
            if pd.Timestamp(end) < pd.Timestamp(start):
                raise ValueError(f"synthetic.periods: end {end} before start {start}")

    @property
    def latitudes(self) -> np.ndarray:
        n = round(180 / self.resolution) + 1
        return np.linspace(90.0, -90.0, n)

    @property
    def longitudes(self) -> np.ndarray:
        return np.arange(round(360 / self.resolution)) * self.resolution

    def times(self) -> pd.DatetimeIndex:
        """The store's 6-hourly time axis, ascending, without duplicates."""
        parts = [
            pd.date_range(pd.Timestamp(s), pd.Timestamp(e) + pd.Timedelta(hours=18), freq="6h") for s, e in self.periods
        ]
        return pd.DatetimeIndex(sorted(set().union(*[set(p) for p in parts])))


# --------------------------------------------------------------------------------------
# Static fields
# --------------------------------------------------------------------------------------

#: Rough continents as (lat_min, lat_max, lon_min, lon_max) boxes, smoothed afterwards.
_CONTINENTS = (
    (15, 72, 235, 300),  # North America
    (8, 30, 255, 280),  # Mexico / Central America
    (60, 83, 300, 340),  # Greenland
    (-56, 12, 280, 325),  # South America
    (36, 72, 350, 360),  # Western Europe (west of 0)
    (36, 75, 0, 180),  # Eurasia
    (5, 36, 60, 120),  # India, South-East Asia
    (-35, 36, 342, 360),  # West Africa (west of 0)
    (-35, 36, 0, 52),  # Africa
    (-40, -11, 113, 154),  # Australia
    (-90, -66, 0, 360),  # Antarctica
)
#: Mountains: (lat, lon, height_m, radius_deg).
_MOUNTAINS = ((40, 250, 2500, 8), (32, 85, 4500, 8), (-20, 292, 3500, 6), (-80, 60, 2800, 25), (72, 320, 2200, 8))


def _box_mask(lat2: np.ndarray, lon2: np.ndarray, box: Sequence[float]) -> np.ndarray:
    la0, la1, lo0, lo1 = box
    return (lat2 >= la0) & (lat2 <= la1) & (lon2 >= lo0) & (lon2 <= lo1)


def _smooth(field: np.ndarray, passes: int = 1) -> np.ndarray:
    out = field.astype(np.float64)
    for _ in range(passes):
        padded = np.pad(out, ((1, 1), (0, 0)), mode="edge")
        lat_avg = (padded[:-2] + padded[1:-1] + padded[2:]) / 3
        out = (np.roll(lat_avg, 1, axis=1) + lat_avg + np.roll(lat_avg, -1, axis=1)) / 3
    return out


def _angular_distance(lat2, lon2, lat0, lon0):
    """Great-circle distance in degrees between grids ``lat2, lon2`` and one point."""
    p1, p2 = np.radians(lat2), math.radians(lat0)
    dl = np.radians(lon2 - lon0)
    c = np.sin(p1) * math.sin(p2) + np.cos(p1) * math.cos(p2) * np.cos(dl)
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


def static_fields(spec: SyntheticSpec) -> dict[str, np.ndarray]:
    """Land-sea mask, surface geopotential (m2 s-2) and soil type, each ``(lat, lon)``."""
    lat2, lon2 = np.meshgrid(spec.latitudes, spec.longitudes, indexing="ij")
    land = np.zeros(lat2.shape)
    for box in _CONTINENTS:
        land = np.maximum(land, _box_mask(lat2, lon2, box))
    lsm = np.clip(_smooth(land, 1) * 1.4 - 0.2, 0.0, 1.0)
    height = np.zeros(lat2.shape)
    for la, lo, h, r in _MOUNTAINS:
        d = _angular_distance(lat2, lon2, la, lo)
        height += h * np.exp(-0.5 * (d / r) ** 2)
    height *= lsm
    soil = np.where(lsm > 0.5, 1 + (np.floor(np.abs(lat2) / 15) % 7), 0)
    return {"land_sea_mask": lsm, "geopotential_at_surface": G * height, "soil_type": soil.astype(np.float64)}


# --------------------------------------------------------------------------------------
# Dynamic fields
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Cyclone:
    start: pd.Timestamp
    days: float
    lat0: float
    lon0: float
    depth_hpa: float
    speed_deg_day: float
    poleward_deg_day: float


def _random_cyclones(spec: SyntheticSpec, rng: np.random.Generator, times: pd.DatetimeIndex) -> list[_Cyclone]:
    """Seeded random extratropical cyclones along the storm tracks of both hemispheres."""
    out: list[_Cyclone] = []
    stored_days = pd.DatetimeIndex(times.normalize().unique())
    days = pd.DatetimeIndex(sorted(set().union(*[set(stored_days - pd.Timedelta(days=k)) for k in range(7)])))
    for day in days:
        for hemi in (1, -1):
            winter = _winter_index(day, hemi)  # 1 in mid-winter, 0 in mid-summer
            n = rng.poisson(spec.cyclones_per_day * (0.5 + 0.5 * winter))
            for _ in range(n):
                lat0 = hemi * (rng.uniform(30, 55) - 6 * winter)
                out.append(
                    _Cyclone(
                        start=day + pd.Timedelta(hours=float(rng.uniform(0, 24))),
                        days=float(rng.uniform(3, 6)),
                        lat0=float(lat0),
                        lon0=float(rng.uniform(0, 360)),
                        depth_hpa=float(min(rng.gamma(2.5, 3.0 + 4.0 * winter), 45.0)),
                        speed_deg_day=float(rng.uniform(8, 14)),
                        poleward_deg_day=float(hemi * rng.uniform(0.5, 2.0)),
                    )
                )
    return out


def _winter_index(time: pd.Timestamp | pd.DatetimeIndex, hemi: int) -> np.ndarray | float:
    doy = np.asarray(time.dayofyear, dtype=np.float64)
    return 0.5 + 0.5 * hemi * np.cos(2 * np.pi * (doy - 15) / 365.25)


def _winter_here(winter_nh: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The winter index of the hemisphere of each latitude (``winter_nh`` and ``lat``
    broadcast): the northern index north of the equator, its complement south of it."""
    return np.where(lat >= 0, winter_nh, 1 - winter_nh)


def _jet_latitudes(winter_nh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes (degrees north) of the northern and southern jets for the northern
    winter index: 35N in the northern winter, 50N in its summer; mirrored in the south."""
    jet_nh = 42.5 - 7.5 * (2 * winter_nh - 1)  # 35N in winter, 50N in summer
    jet_sh = -(42.5 - 7.5 * (1 - 2 * winter_nh))
    return jet_nh, jet_sh


def _jet_wind(winter_nh: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Zonal wind (m/s) of the two seasonal jets at their peak level (before the vertical
    profile and the tropical easterlies): Gaussians of 10 degrees about the jet latitudes,
    47 m/s in a hemisphere's winter, 23 m/s in its summer."""
    jet_nh, jet_sh = _jet_latitudes(winter_nh)
    u_jet = (35 + 12 * (2 * winter_nh - 1)) * np.exp(-0.5 * ((lat - jet_nh) / 10) ** 2)
    u_jet += (35 + 12 * (1 - 2 * winter_nh)) * np.exp(-0.5 * ((lat - jet_sh) / 10) ** 2)
    return u_jet


@dataclasses.dataclass(frozen=True)
class _StormState:
    """One storm (random or catalogued) at one time, as the generator inserts it."""

    lat: float
    lon: float
    depth_hpa: float
    wind_ms: float
    radius_deg: float
    tropical: bool


def _storm_states(
    spec: SyntheticSpec, times: pd.DatetimeIndex, cyclones: Sequence[_Cyclone]
) -> list[list[_StormState]]:
    """The storms alive at each of ``times``: the random cyclones (in their order), then
    the catalogued storms of ``spec`` (their depth and wind scaled by
    ``tropical_intensity`` for tropical ones)."""
    tday = np.asarray((times - _EPOCH) / pd.Timedelta(days=1), dtype=np.float64)
    c_start = np.array([(c.start - _EPOCH) / pd.Timedelta(days=1) for c in cyclones])
    c_days = np.array([c.days for c in cyclones])
    out: list[list[_StormState]] = []
    for i, t in enumerate(times):
        here: list[_StormState] = []
        ages = tday[i] - c_start
        for n in np.flatnonzero((ages >= 0) & (ages <= c_days)):
            c, age = cyclones[n], float(ages[n])
            life = math.sin(math.pi * age / c.days)
            depth = c.depth_hpa * life
            clat = c.lat0 + c.poleward_deg_day * age
            clon = (c.lon0 + c.speed_deg_day * age) % 360
            here.append(_StormState(clat, clon, depth, 0.6 * depth + 3.0 * life, 6.0, False))
        for s in spec.storms:
            st = s.state_at(t)
            if st is None:
                continue
            k = spec.tropical_intensity if s.kind == "tropical" else 1.0
            here.append(
                _StormState(
                    st.lat, st.lon, k * (1013.0 - st.msl_hpa), k * st.wind_ms, s.radius_deg, s.kind == "tropical"
                )
            )
        out.append(here)
    return out


def _declination(doy: np.ndarray) -> np.ndarray:
    return 23.44 * np.sin(2 * np.pi * (doy - 80) / 365.25)


def _qsat(temp: np.ndarray, p_hpa: np.ndarray) -> np.ndarray:
    tc = temp - 273.15
    es = 6.112 * np.exp(17.67 * tc / (tc + 243.5))
    return 0.622 * es / np.maximum(p_hpa - 0.378 * es, 1.0)


def _vortex(lat2, lon2, clat, clon, radius, hemi):
    """Unit cyclonic vortex around a centre: Gaussian profile and tangential winds.

    ``clon`` and ``radius`` may be arrays that broadcast against ``lat2`` (one centre and
    radius per level). Returns ``(gauss, u_unit, v_unit)``; winds peak at 1 at the radius
    of maximum wind.
    """
    dy = lat2 - clat
    dx = (((lon2 - clon) + 180) % 360 - 180) * np.cos(np.radians(clat))
    r2 = dx**2 + dy**2
    rad2 = np.square(radius)
    gauss = np.exp(-0.5 * r2 / rad2)
    r = np.sqrt(r2) + 1e-6
    speed = (r / radius) * np.exp(0.5 * (1 - r2 / rad2))
    u = -hemi * speed * dy / r
    v = hemi * speed * dx / r
    return gauss, u, v


def _background_chunk(
    spec: SyntheticSpec,
    times: pd.DatetimeIndex,
    static: dict[str, np.ndarray],
    waves: dict[str, np.ndarray],
    cyclones: Sequence[_Cyclone],
) -> dict[str, np.ndarray]:
    """The background ``B`` at ``times``: every dynamic field, float64, ``(time, [level,] lat, lon)``."""
    lat = spec.latitudes
    lon = spec.longitudes
    lat2, lon2 = np.meshgrid(lat, lon, indexing="ij")
    p = np.asarray(LEVELS, dtype=np.float64)  # ascending pressure (top first)
    nt, nl = len(times), len(p)
    doy = np.asarray(times.dayofyear, dtype=np.float64) + np.asarray(times.hour) / 24.0
    tday = np.asarray((times - _EPOCH) / pd.Timedelta(days=1), dtype=np.float64)
    lsm = static["land_sea_mask"]
    orog_m = static["geopotential_at_surface"] / G
    phi = np.radians(lat2)[None]  # (1, lat, lon)

    # --- surface temperature following the sun, with continental winters ---------------
    dec = np.radians(_declination(doy))[:, None, None]
    ts = 252.0 + 48.0 * np.cos(phi - 0.7 * dec)
    winter_nh = _winter_index(times, 1)[:, None, None]
    winter_here = _winter_here(winter_nh, lat2[None])
    ts = ts - lsm[None] * np.abs(np.sin(phi)) * (18.0 * winter_here - 6.0)

    # --- travelling Rossby waves along the jets ----------------------------------------
    jet_nh, jet_sh = _jet_latitudes(winter_nh)
    env = np.exp(-0.5 * ((lat2[None] - jet_nh) / 12) ** 2) + np.exp(-0.5 * ((lat2[None] - jet_sh) / 12) ** 2)
    wave = np.zeros((nt,) + lat2.shape)
    dwave = np.zeros_like(wave)
    for k, amp, speed, phase in zip(waves["k"], waves["amp"], waves["speed"], waves["phase"]):
        arg = k * np.radians(lon2)[None] - np.radians(speed * tday)[:, None, None] * k + phase
        slow = 0.6 + 0.4 * np.sin(2 * np.pi * tday / (20 + 3 * k) + phase)[:, None, None]
        wave += amp * slow * np.cos(arg)
        dwave += -amp * slow * k * np.sin(arg)
    wave *= env  # geopotential height anomaly at 500 hPa in metres
    dwave *= env

    # --- cyclones (random and catalogued) as surface lows ---------------------------------
    msl = np.full((nt,) + lat2.shape, 101325.0)
    msl += 1200.0 * np.cos(2 * phi) * 0.5  # subtropical highs, subpolar lows
    msl += lsm[None] * 800.0 * (2 * winter_here - 1) * np.abs(np.sin(phi))  # winter continental highs
    msl += 1.2 * G * 0.3 * wave  # hydrostatic surface signature of the waves
    u_s = np.zeros_like(msl)
    v_s = np.zeros_like(msl)
    t_core = np.zeros((nt, nl) + lat2.shape)
    z_core = np.zeros_like(t_core)
    u_core = np.zeros_like(t_core)
    v_core = np.zeros_like(t_core)
    height_frac = (1000.0 - p) / 1000.0  # 0 at the surface, ~1 at the top

    lat_step = abs(lat[1] - lat[0])

    def window(clat: float, clon: float, reach: float) -> tuple[np.ndarray, np.ndarray]:
        """Row and column indices of the cells within ``reach`` degrees of a centre."""
        rows = np.flatnonzero(np.abs(lat - clat) <= reach + lat_step)
        half = min(180.0, (reach + lat_step) / max(np.cos(np.radians(min(abs(clat) + reach, 89.0))), 0.05))
        cols = np.flatnonzero(np.abs(((lon - clon) + 180) % 360 - 180) <= half)
        return rows, cols

    hf3 = height_frac[:, None, None]
    p3 = p[:, None, None]
    trop_t = 0.35 * np.exp(-0.5 * ((p3 - 300) / 150) ** 2)
    trop_z = -G * 8.0 * np.maximum(p3 - 150.0, 0.0) / 850.0
    trop_w = np.maximum(p3 - 150.0, 0.0) / 850.0
    etc_t = -0.25 * np.exp(-0.5 * ((p3 - 500) / 250) ** 2)
    etc_z = -G * 8.0 * (1.0 + 1.2 * hf3)
    etc_w = (0.7 + 0.6 * np.exp(-0.5 * ((p3 - 300) / 200) ** 2)) * (p3 >= 150)

    def add_storm(i: int, clat: float, clon: float, depth: float, wind: float, radius: float, tropical: bool) -> None:
        hemi = 1.0 if clat >= 0 else -1.0
        reach = 4.5 * radius * 1.3 + 7.0  # covers the widest, most tilted level
        rows, cols = window(clat, clon, reach)
        ix = np.ix_(rows, cols)
        la, lo = lat2[ix], lon2[ix]
        g0, uu, vv = _vortex(la, lo, clat, clon, radius, hemi)
        msl[i][ix] -= 100.0 * depth * g0
        u_s[i][ix] += wind * uu
        v_s[i][ix] += wind * vv
        if tropical:  # warm core, winds and low heights decaying upward
            gj, uj, vj = g0[None], uu[None], vv[None]
            dt, dz, w = trop_t * depth * gj, trop_z * depth * gj, trop_w * wind
        else:  # cold core whose centre tilts westward with height
            gj, uj, vj = _vortex(la[None], lo[None], clat, (clon - 6.0 * hf3) % 360, radius * (1 + 0.3 * hf3), hemi)
            dt, dz, w = etc_t * depth * gj, etc_z * depth * gj, etc_w * wind
        lix = (slice(None), rows[:, None], cols[None, :])
        t_core[i][lix] += dt
        z_core[i][lix] += dz
        u_core[i][lix] += w * uj
        v_core[i][lix] += w * vj

    for i, states in enumerate(_storm_states(spec, times, cyclones)):
        for st in states:
            add_storm(i, st.lat, st.lon, st.depth_hpa, st.wind_ms, st.radius_deg, st.tropical)

    # --- temperature and geopotential columns ------------------------------------------
    expo = R_DRY * LAPSE / G
    t_trop = 212.0 + 8.0 * np.cos(phi) ** 2
    temp = np.maximum(ts[:, None] * (p[None, :, None, None] / 1000.0) ** expo, t_trop[:, None])
    strat = p[None, :, None, None] < 150
    temp = np.where(strat, temp + 4.0 * np.log(150.0 / p)[None, :, None, None], temp)
    wave_t = (wave[:, None] * np.exp(-0.5 * ((p[None, :, None, None] - 500) / 300) ** 2)) * 0.05
    temp = temp + wave_t + t_core
    z = np.empty_like(temp)
    z[:, -1] = R_DRY * ts * np.log(msl / 100000.0)  # 1000 hPa from the sea-level pressure
    for j in range(nl - 2, -1, -1):
        tm = 0.5 * (temp[:, j] + temp[:, j + 1])
        z[:, j] = z[:, j + 1] + R_DRY * tm * math.log(p[j + 1] / p[j])
    z = z + z_core + G * wave[:, None] * (0.3 + 0.7 * height_frac[None, :, None, None])

    # --- winds: seasonal jets, wave winds, vortex winds ---------------------------------
    prof = np.exp(-0.5 * (np.log(p / 250.0) / 0.7) ** 2)[None, :, None, None] + 0.15
    u_jet = _jet_wind(winter_nh, lat2[None])
    u_jet -= 6.0 * np.exp(-0.5 * (lat2[None] / 12) ** 2)  # tropical easterlies
    coslat = np.maximum(np.cos(phi), 0.1)
    f = 2 * 7.292e-5 * np.sin(phi)
    f = np.where(np.abs(f) < 2e-5, np.sign(f + 1e-12) * 2e-5, f)
    v_wave = G * dwave / (f * EARTH_RADIUS_KM * 1e3 * coslat)
    v_wave = np.clip(v_wave, -25, 25)
    u = u_jet[:, None] * prof + u_core
    v = v_wave[:, None] * prof * 0.8 + v_core
    rh = 0.75 - 0.25 * np.exp(-0.5 * ((np.abs(lat2) - 25) / 8) ** 2)[None, None]
    q_trop = rh * _qsat(temp, p[None, :, None, None])
    blend = np.clip((p[None, :, None, None] - 150.0) / 250.0, 0.0, 1.0)  # 0 above 150 hPa, 1 below 400
    q = blend * q_trop + (1 - blend) * np.minimum(q_trop, 2.5e-6 * (1 + 0.1 * np.cos(phi)[:, None]))

    t2m = ts - LAPSE * orog_m[None] + t_core[:, -1] * 0.5
    u10 = 0.7 * u[:, -1] - 0.7 * u_core[:, -1] + u_s
    v10 = 0.7 * v[:, -1] - 0.7 * v_core[:, -1] + v_s

    out = {
        "2m_temperature": t2m,
        "10m_u_component_of_wind": u10,
        "10m_v_component_of_wind": v10,
        "mean_sea_level_pressure": msl,
        "temperature": temp,
        "geopotential": z,
        "u_component_of_wind": u,
        "v_component_of_wind": v,
        "specific_humidity": q,
    }
    if spec.extra_variables:
        out["total_precipitation_6hr"] = np.maximum(0.0, (101000.0 - msl) / 2e6)
        out["sea_surface_temperature"] = np.where(lsm[None] < 0.5, np.maximum(ts, 271.35), np.nan)
        out["surface_pressure"] = msl * np.exp(-orog_m[None] / 8000.0)
        out["total_cloud_cover"] = np.clip(0.5 + (101325.0 - msl) / 4000.0, 0, 1)
    return out


def _add_anomaly(fields: dict[str, np.ndarray], anomaly: np.ndarray) -> None:
    """Add the planted anomaly ``(time, 4, lat, lon)`` to its driven fields, in place."""
    for k, (name, level) in enumerate(DRIVEN):
        if level is None:
            fields[name] += anomaly[:, k]
        else:
            fields[name][:, list(LEVELS).index(level)] += anomaly[:, k]


def _dynamic_chunk(
    spec: SyntheticSpec,
    times: pd.DatetimeIndex,
    static: dict[str, np.ndarray],
    waves: dict[str, np.ndarray],
    cyclones: Sequence[_Cyclone],
    anomaly: np.ndarray,
) -> dict[str, np.ndarray]:
    """Background plus planted anomaly ``(time, 4, lat, lon)``, as the store's float32."""
    out = _background_chunk(spec, times, static, waves, cyclones)
    _add_anomaly(out, anomaly)
    return {k: v.astype(np.float32) for k, v in out.items()}


def planted_dynamics_attr(spec: SyntheticSpec) -> str:
    """The store's ``planted_dynamics`` attribute: F described as JSON (terms, coefficients
    with units, driven fields, flow, seed; :meth:`~aurora_xai.data.dynamics.PlantedDynamics.describe`)."""
    return json.dumps(DEFAULT_DYNAMICS.describe(spec.seed, spec.resolution), sort_keys=True)


def _random_parts(spec: SyntheticSpec) -> tuple[dict[str, np.ndarray], list[_Cyclone]]:
    rng = np.random.default_rng(spec.seed)
    waves = _wave_params(rng)
    return waves, _random_cyclones(spec, rng, spec.times())


def background_fields(spec: SyntheticSpec, times: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """The analytic background ``B(t)`` of every dynamic field at ``times``, float64.

    The store's fields are these plus the planted anomaly on the driven fields
    (:data:`~aurora_xai.data.dynamics.DRIVEN`). Shapes ``(time, [level,] lat, lon)``.
    """
    waves, cyclones = _random_parts(spec)
    return _background_chunk(spec, pd.DatetimeIndex(times), static_fields(spec), waves, cyclones)


#: The planted structures :func:`planted_structures` evaluates, in its order.
PLANTED_STRUCTURES = ("storm", "jet", "season")


def planted_structures(
    spec: SyntheticSpec, times: Sequence[Any], lat: np.ndarray, lon: np.ndarray
) -> dict[str, np.ndarray]:
    """The store's planted storm, jet and seasonal fields at ``times`` on a ``lat x lon`` grid.

    Each is evaluated with the generator's own code (the storms alive at each time, the
    jets' latitudes and winds, the winter index), so it is exactly what the store plants:

    * ``storm``: the largest Gaussian profile ``exp(-r^2 / 2 radius^2)`` over the random
      cyclones and catalogued storms alive at the time (the shape of their surface lows;
      1 at a storm's centre, 0 far from every storm; dimensionless);
    * ``jet``: the seasonal jets' zonal wind at their peak level (m/s; Gaussians about the
      jet latitudes, 35N in the northern winter, 50N in its summer, mirrored south);
    * ``season``: the winter index of each latitude's hemisphere (1 in mid-winter, 0 in
      mid-summer; dimensionless).

    Args:
        spec: The store's spec (its seed and times fix the random cyclones).
        times: ``(T,)`` times (anything :class:`pandas.DatetimeIndex` takes; naive UTC).
        lat: ``(H,)`` latitudes, degrees north.
        lon: ``(W,)`` longitudes, degrees east.

    Returns:
        :data:`PLANTED_STRUCTURES` -> ``(T, H, W)`` float64 arrays.
    """
    times = pd.DatetimeIndex(times)
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64) % 360
    lat2, lon2 = np.meshgrid(lat, lon, indexing="ij")
    winter_nh = np.asarray(_winter_index(times, 1), dtype=np.float64)[:, None, None]
    storm = np.zeros((len(times),) + lat2.shape)
    _, cyclones = _random_parts(spec)
    for i, states in enumerate(_storm_states(spec, times, cyclones)):
        for st in states:
            gauss, _, _ = _vortex(lat2, lon2, st.lat, st.lon, st.radius_deg, 1.0)
            storm[i] = np.maximum(storm[i], gauss)
    return {
        "storm": storm,
        "jet": np.broadcast_to(_jet_wind(winter_nh, lat2[None]), storm.shape).copy(),
        "season": np.broadcast_to(_winter_here(winter_nh, lat2[None]), storm.shape).astype(np.float64),
    }


def jet_latitudes(times: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(T,)`` latitudes (degrees north) of the northern and southern planted jets at ``times``."""
    winter_nh = np.asarray(_winter_index(pd.DatetimeIndex(times), 1), dtype=np.float64)
    return _jet_latitudes(winter_nh)


def _anomalies(spec: SyntheticSpec, times: pd.DatetimeIndex) -> np.ndarray:
    return anomalies_at(
        DEFAULT_DYNAMICS, spec.seed, spec.times(), times, spec.latitudes, spec.longitudes, spec.resolution
    )


_EXTRA_UNITS = {
    "total_precipitation_6hr": ("m", "Total precipitation (6 h)"),
    "sea_surface_temperature": ("K", "Sea surface temperature"),
    "surface_pressure": ("Pa", "Surface pressure"),
    "total_cloud_cover": ("1", "Total cloud cover"),
}


def _wave_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    ks = np.array([4, 5, 6, 7])
    return {
        "k": ks,
        "amp": rng.uniform(25, 50, size=len(ks)),  # metres of 500 hPa height
        "speed": rng.uniform(6, 12, size=len(ks)),  # degrees of longitude per day
        "phase": rng.uniform(0, 2 * np.pi, size=len(ks)),
    }


def _to_dataset(spec: SyntheticSpec, times: pd.DatetimeIndex, fields: Mapping[str, np.ndarray]) -> xr.Dataset:
    coords = {
        "time": times.values.astype("datetime64[ns]"),
        "level": np.asarray(LEVELS, dtype=np.int64),
        "latitude": spec.latitudes,
        "longitude": spec.longitudes,
    }
    data_vars = {}
    for name, arr in fields.items():
        dims = ("time", "level", "latitude", "longitude") if arr.ndim == 4 else ("time", "latitude", "longitude")
        units, long_name = _EXTRA_UNITS.get(name, (UNITS.get(name, "1"), LONG_NAMES.get(name, name)))
        data_vars[name] = xr.Variable(dims, arr, attrs={"units": units, "long_name": long_name})
    ds = xr.Dataset(data_vars, coords=coords)
    ds["latitude"].attrs.update(units="degrees_north", long_name="latitude")
    ds["longitude"].attrs.update(units="degrees_east", long_name="longitude")
    ds["level"].attrs.update(units="hPa", long_name="pressure level")
    return ds


def synthetic_dataset(spec: SyntheticSpec, times: pd.DatetimeIndex | None = None) -> xr.Dataset:
    """The synthetic fields in memory for ``times`` (default: the spec's whole axis).

    Values depend only on the spec and the time, so any subset of times equals the same
    times of the full store: the planted anomaly is integrated from the spin-up of each
    segment that holds a requested time up to the last requested time in it (4 driven
    fields per step, two steps held). The background of all times is generated at once:
    working memory is about ``len(times) * step_bytes(spec)`` (:func:`step_bytes`), ~1.9 GB
    per time at 0.25 deg.
    """
    all_times = spec.times()
    times = all_times if times is None else pd.DatetimeIndex(times)
    waves, cyclones = _random_parts(spec)
    static = static_fields(spec)
    fields = _dynamic_chunk(spec, times, static, waves, cyclones, _anomalies(spec, times))
    ds = _to_dataset(spec, times, fields)
    ds.attrs["planted_dynamics"] = planted_dynamics_attr(spec)
    for name, arr in static.items():
        units = UNITS[name]
        ds[name] = xr.Variable(
            ("latitude", "longitude"), arr.astype(np.float32), {"units": units, "long_name": LONG_NAMES[name]}
        )
    return ds


def step_bytes(spec: SyntheticSpec) -> int:
    """Working memory (bytes) that generating one time step of ``spec`` takes.

    The fields are computed in float64 on the whole grid: about 16 arrays of shape
    ``(level, lat, lon)`` and 24 of shape ``(lat, lon)`` are alive at the peak. At 0.25 deg
    (721 x 1440, 13 levels) this is ~1.9 GB per step (1.7 GB peak RSS measured).
    """
    cells = len(spec.latitudes) * len(spec.longitudes)
    return 8 * cells * (16 * len(LEVELS) + 24)


def _anomaly_stream(spec: SyntheticSpec):
    """The planted anomaly ``(4, lat, lon)`` at each of the spec's times in order, the state
    carried from step to step (each segment integrated from its spin-up)."""
    for seg in segments(spec.times()):
        stream = integrate_anomaly(
            DEFAULT_DYNAMICS, spec.seed, seg[0], spec.latitudes, spec.longitudes, spec.resolution
        )
        for _, (_, a, _) in zip(seg, stream):  # the stream's times are the segment's
            yield a


def write_synthetic_store(
    spec: SyntheticSpec, path: str | Path, chunk_days: int = 31, max_block_bytes: int = 2 * 2**30
) -> Path:
    """Write the synthetic store as a consolidated zarr (format 2, like WeatherBench 2).

    Written to ``<path>.tmp`` and renamed on success, so an interrupted run leaves no
    half-written store under ``path``. Chunks are one time step each. The times are
    generated and written in blocks of at most ``chunk_days`` days and at most
    ``max_block_bytes`` of working memory (:func:`step_bytes`; at least one step per
    block): 124 steps per block on the default 3 deg grid, one at 0.25 deg. The planted
    anomaly is carried from step to step across blocks (two steps of 4 driven fields
    held), each segment of consecutive times integrated from its spin-up. The values do
    not depend on the blocks. The store's ``planted_dynamics`` attribute holds F as JSON
    (:func:`planted_dynamics_attr`).

    Returns:
        The path of the store.

    Raises:
        ValueError: ``chunk_days`` or ``max_block_bytes`` is not positive.
    """
    import shutil

    if chunk_days < 1 or max_block_bytes < 1:
        raise ValueError(f"chunk_days ({chunk_days}) and max_block_bytes ({max_block_bytes}) must be positive")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    all_times = spec.times()
    waves, cyclones = _random_parts(spec)
    static = static_fields(spec)
    anomaly_stream = _anomaly_stream(spec)
    step = max(1, min(chunk_days * 4, max_block_bytes // step_bytes(spec)))
    log.info(
        "%d times on a %d x %d grid, %d per block (~%.2f GB working memory per time)",
        len(all_times),
        len(spec.latitudes),
        len(spec.longitudes),
        step,
        step_bytes(spec) / 1e9,
    )
    compressor_kw: dict[str, Any] = {}
    if not spec.compress:
        compressor_kw = {"compressors": None}
    for start in range(0, len(all_times), step):
        times = all_times[start : start + step]
        anomaly = np.stack([next(anomaly_stream) for _ in times])
        fields = _dynamic_chunk(spec, times, static, waves, cyclones, anomaly)
        ds = _to_dataset(spec, times, fields)
        # every block carries the store's attributes (an append replaces them)
        ds.attrs.update(
            title="Synthetic ERA5 stand-in with planted structure (WeatherBench 2 schema)",
            source="aurora_xai.data.synthetic",
            seed=spec.seed,
            resolution_deg=spec.resolution,
            storms=",".join(s.name for s in spec.storms),
            planted_dynamics=planted_dynamics_attr(spec),
        )
        if start == 0:
            for name, arr in static.items():
                ds[name] = xr.Variable(
                    ("latitude", "longitude"),
                    arr.astype(np.float32),
                    {"units": UNITS[name], "long_name": LONG_NAMES[name]},
                )
            encoding = {
                name: {"chunks": (1,) + ds[name].shape[1:], **compressor_kw}
                if "time" in ds[name].dims
                else dict(compressor_kw)
                for name in ds.data_vars
            }
            # whole hours since the first time, fixed here: left to xarray, a first block
            # of one time gets units of days, and the 6-hourly times appended later are
            # stored as whole days
            encoding["time"] = {"units": f"hours since {all_times[0]:%Y-%m-%d %H:%M:%S}", "dtype": "int64"}
            ds.to_zarr(tmp, mode="w", zarr_format=2, consolidated=True, encoding=encoding)
        else:
            ds.to_zarr(tmp, append_dim="time", zarr_format=2, consolidated=True)
        log.info("wrote %s .. %s (%d/%d times)", times[0], times[-1], start + len(times), len(all_times))
    if path.exists():
        shutil.rmtree(path)
    tmp.rename(path)
    return path
