"""Planted dynamics of the synthetic store: a known 6-hourly map F of the state.

The synthetic store (:mod:`aurora_xai.data.synthetic`) writes every field as an analytic
background ``B(t)`` (a known function of time and position: seasonal cycle, Rossby
waves, seeded cyclones, catalogued storms, vertical structure) plus, on four *driven*
fields, a planted anomaly ``A`` that evolves by a known map of the two previous steps:

    A(t + 6 h) = F_A(A(t), A(t - 6 h)) + noise(t + 6 h)

so that the stored state ``x`` follows

    x(t + 6 h) = F(x(t), x(t - 6 h)) + noise(t + 6 h),
    F(x(t), x(t - 6 h)) = B(t + 6 h) + F_A(x(t) - B(t), x(t - 6 h) - B(t - 6 h)).

``B(t + 6 h)`` is the seasonal forcing (a known function of time; it carries the seasonal
cycle, the waves and the storms). The driven fields, each anomaly living in exactly one
store field (variable and level), in the order of the anomaly arrays' first axis:

====  ======================================  =======  ============
index field                                   level    units
====  ======================================  =======  ============
0     ``geopotential`` (Z)                    500 hPa  m2 s-2
1     ``mean_sea_level_pressure`` (P)         surface  Pa
2     ``temperature`` (T)                     850 hPa  K
3     ``10m_v_component_of_wind`` (V)         surface  m s-1
====  ======================================  =======  ============

Every other field is its background alone: ``F`` gives it ``B(t + 6 h)``, which depends on
no input, so its exact attribution is zero everywhere.

The terms of ``F_A`` (``a`` = anomaly at ``t``, ``p`` = anomaly at ``t - 6 h``, both float64;
:class:`PlantedDynamics` holds the coefficients, :data:`DEFAULT_DYNAMICS` the store's):

* **Advection** by a fixed eastward zonal flow of angular speed
  ``omega(lat) = omega_base + omega_jet * exp(-((|lat| - 45) / 15)**2 / 2)`` degrees of
  longitude per day (defaults 6 and 14: 1.5 to 5 degrees per 6 h). Semi-Lagrangian and
  linear: with the Courant number per latitude row ``c = omega / 4 / resolution`` cells per
  step, ``n = floor(c)``, ``f = c - n``,
  ``S(a)[i, j] = (1 - f_i) a[i, j - n_i] + f_i a[i, j - n_i - 1]`` (columns periodic).
* **Relaxation** ``-lambda_k`` per step towards the background, per field.
* **History term** ``gamma_k * S(a_k - S(p_k))``: the last 6 h change in the frame moving
  with the flow (zero for a purely advected pattern), advected on; the previous step's
  anomaly enters with weight ``-gamma_k`` through ``S(S(.))`` (dimensionless, per field;
  the form keeps the map stable for every zonal wavenumber).
* **Cross-level coupling**: ``P`` gains ``kappa * Z`` read ``upstream_deg`` degrees of
  longitude upstream (west), ``kappa`` in Pa per m2 s-2 per step (a trough aloft upstream
  lowers the sea-level pressure; 2 cells on the 3 deg grid).
* **Non-linear term**: ``V`` gains ``beta * tanh(T / t_scale)`` (``beta`` in m s-1 per step,
  ``t_scale`` in K), the 850 hPa temperature anomaly at the same cell.

Written out::

    Z' = (1 - lambda_Z) S(Z) + gamma_Z S(Z - S(Z_p))
    P' = (1 - lambda_P) S(P) + gamma_P S(P - S(P_p)) + kappa * Z[lon - upstream_deg]
    T' = (1 - lambda_T) S(T) + gamma_T S(T - S(T_p))
    V' = (1 - lambda_V) S(V) + gamma_V S(V - S(V_p)) + beta * tanh(T / t_scale)

* **Noise** (seeded, not part of ``F``): a smooth random field per driven field and time,
  ``sigma_k * season(lat, t) * xi_k(t)``: ``xi`` is a unit-variance sum of zonal Fourier
  modes (wavenumbers ``noise_wavenumbers``) times Gaussian latitude bumps (every
  ``noise_lat_spacing`` degrees, width ``noise_lat_width``), scales far above a 4-cell patch
  on every grid the store is written at; its coefficients come from
  ``numpy.random.default_rng([seed, 23, hours since 1900-01-01])`` (the same at any block
  layout or subset); ``season = 0.8 + 0.4 * winter index`` of the cell's hemisphere
  (stronger in winter).

Spin-up: the anomaly is zero at ``spinup_steps`` 6-hourly steps (default 40, 10 days)
before the first time of each run of consecutive 6-hourly store times (a *segment*: the
periods of the spec, merged where they touch or overlap) and is integrated from there,
noise included. Times between 6-hourly steps interpolate linearly in time; a time after
a segment's last stored time continues that segment's integration; a time before every
spin-up start has zero anomaly.

The store's coefficients (:data:`DEFAULT_DYNAMICS`; recorded as JSON in the store's
``planted_dynamics`` attribute, :meth:`PlantedDynamics.describe`; units also in
:data:`COEFFICIENT_UNITS`), per-field values in the order Z, P, T, V:

=====================  ===========================  ==========================================
coefficient            value                        units
=====================  ===========================  ==========================================
``omega_base``         6.0                          degrees of longitude per day
``omega_jet``          14.0                         degrees of longitude per day
``relaxation``         0.005, 0.03, 0.005, 0.1      1 per 6 h step
``gamma``              0.3, 0.2, 0.3, 0.2           1
``kappa``              0.03                         Pa per (m2 s-2) per 6 h step
``upstream_deg``       6.0                          degrees of longitude
``beta``               0.7                          m s-1 per 6 h step
``t_scale``            1.5                          K
``sigma``              80.0, 30.0, 0.2, 0.45        m2 s-2, Pa, K, m s-1 per 6 h step
``noise_wavenumbers``  5 to 12                      zonal wavenumbers
``noise_lat_spacing``  15.0                         degrees of latitude
``noise_lat_width``    10.0                         degrees of latitude
``spinup_steps``       40                           6 h steps (10 days)
=====================  ===========================  ==========================================

On the 3 degree grid over a year the anomalies' standard deviations are about 430 m2 s-2
(Z), 300 Pa (P), 1.1 K (T) and 2.9 m s-1 (V). The noise is 4 to 10 % of the variance of
their 6-hour change. The linear interpolation of the advection damps the short waves
more on coarse grids, so the anomalies are larger on fine grids.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "COEFFICIENT_UNITS",
    "DEFAULT_DYNAMICS",
    "DRIVEN",
    "PlantedDynamics",
    "anomalies_at",
    "anomaly_noise",
    "anomaly_step",
    "anomaly_step_adjoint",
    "courant_numbers",
    "integrate_anomaly",
    "segments",
]

#: The driven fields: (store variable, level in hPa or None for a surface field), in the
#: order of the anomaly arrays' first axis.
DRIVEN: tuple[tuple[str, int | None], ...] = (
    ("geopotential", 500),
    ("mean_sea_level_pressure", None),
    ("temperature", 850),
    ("10m_v_component_of_wind", None),
)
Z, P, T, V = range(4)
STEP = pd.Timedelta(hours=6)
_NOISE_EPOCH = pd.Timestamp("1900-01-01")

#: Units of :class:`PlantedDynamics`' coefficients.
COEFFICIENT_UNITS: dict[str, str] = {
    "omega_base": "degrees of longitude per day",
    "omega_jet": "degrees of longitude per day",
    "relaxation": "1 per 6 h step, per driven field",
    "gamma": "1 (weight of the last 6 h change), per driven field",
    "kappa": "Pa per (m2 s-2) per 6 h step",
    "upstream_deg": "degrees of longitude",
    "beta": "m s-1 per 6 h step",
    "t_scale": "K",
    "sigma": "units of each driven field per 6 h step",
    "noise_wavenumbers": "zonal wavenumbers",
    "noise_lat_spacing": "degrees of latitude",
    "noise_lat_width": "degrees of latitude",
    "spinup_steps": "6 h steps",
}


@dataclasses.dataclass(frozen=True)
class PlantedDynamics:
    """The coefficients of ``F_A`` and its noise (see the module docstring; units in
    :data:`COEFFICIENT_UNITS`). Per-field tuples follow :data:`DRIVEN` (Z, P, T, V).

    Raises:
        ValueError: a per-field tuple does not have 4 entries, a relaxation is outside
            ``[0, 1)``, or a scale is not positive.
    """

    omega_base: float = 6.0
    omega_jet: float = 14.0
    relaxation: tuple[float, float, float, float] = (0.005, 0.03, 0.005, 0.1)
    gamma: tuple[float, float, float, float] = (0.3, 0.2, 0.3, 0.2)
    kappa: float = 0.03
    upstream_deg: float = 6.0
    beta: float = 0.7
    t_scale: float = 1.5
    sigma: tuple[float, float, float, float] = (80.0, 30.0, 0.2, 0.45)
    noise_wavenumbers: tuple[int, ...] = (5, 6, 7, 8, 9, 10, 11, 12)
    noise_lat_spacing: float = 15.0
    noise_lat_width: float = 10.0
    spinup_steps: int = 40

    def __post_init__(self) -> None:
        for name in ("relaxation", "gamma", "sigma"):
            if len(getattr(self, name)) != len(DRIVEN):
                raise ValueError(f"PlantedDynamics.{name}: needs {len(DRIVEN)} entries (Z, P, T, V)")
        if not all(0 <= r < 1 for r in self.relaxation):
            raise ValueError(f"PlantedDynamics.relaxation: {self.relaxation} outside [0, 1)")
        if self.t_scale <= 0 or self.noise_lat_width <= 0 or self.noise_lat_spacing <= 0:
            raise ValueError("PlantedDynamics: t_scale, noise_lat_width and noise_lat_spacing must be positive")
        if self.spinup_steps < 0:
            raise ValueError(f"PlantedDynamics.spinup_steps: {self.spinup_steps} is negative")

    def describe(self, seed: int, resolution: float) -> dict[str, Any]:
        """A JSON-ready description of F: terms, coefficients with units, fields, flow, seed."""
        coeffs = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}
        return {
            "map": "x(t+6h) = B(t+6h) + F_A(x(t) - B(t), x(t-6h) - B(t-6h)) + noise(t+6h)",
            "fields": [{"index": i, "variable": v, "level_hpa": lv} for i, (v, lv) in enumerate(DRIVEN)],
            "terms": {
                "Z": "(1 - relaxation[0]) S(Z) + gamma[0] S(Z - S(Z_prev))",
                "P": "(1 - relaxation[1]) S(P) + gamma[1] S(P - S(P_prev)) + kappa Z[lon - upstream_deg]",
                "T": "(1 - relaxation[2]) S(T) + gamma[2] S(T - S(T_prev))",
                "V": "(1 - relaxation[3]) S(V) + gamma[3] S(V - S(V_prev)) + beta tanh(T / t_scale)",
                "S": "semi-Lagrangian shift east by c = omega(lat) / 4 / resolution cells, linear interpolation",
                "omega": "omega_base + omega_jet exp(-((|lat| - 45) / 15)^2 / 2) degrees of longitude per day",
                "noise": "sigma[k] (0.8 + 0.4 winter_index) xi_k(t+6h), xi smooth, rng([seed, 23, hours since 1900])",
                "spinup": "anomaly 0 at spinup_steps steps before each segment's first time",
            },
            "coefficients": coeffs,
            "units": COEFFICIENT_UNITS,
            "seed": int(seed),
            "resolution_deg": float(resolution),
            "upstream_cells": upstream_cells(self, resolution),
            "flow": {
                "direction": "eastward, zonal",
                "omega_deg_per_day_at_0_45_90": [
                    float(self.omega_base + self.omega_jet * math.exp(-0.5 * ((abs(la) - 45.0) / 15.0) ** 2))
                    for la in (0.0, 45.0, 90.0)
                ],
                "courant_cells_per_step_at_0_45_90": [
                    float(c) for c in courant_numbers(self, np.array([0.0, 45.0, 90.0]), resolution)
                ],
            },
        }


#: The dynamics the synthetic store plants.
DEFAULT_DYNAMICS = PlantedDynamics()


def courant_numbers(dyn: PlantedDynamics, lat: np.ndarray, resolution: float) -> np.ndarray:
    """Eastward shift per 6 h step in grid cells, one per latitude row ``(lat,)``."""
    omega = dyn.omega_base + dyn.omega_jet * np.exp(-0.5 * ((np.abs(lat) - 45.0) / 15.0) ** 2)
    return omega / 4.0 / resolution


def upstream_cells(dyn: PlantedDynamics, resolution: float) -> int:
    """Columns between a cell and where the coupling reads Z (``upstream_deg / resolution``, rounded)."""
    return int(round(dyn.upstream_deg / resolution))


def _columns(c: np.ndarray, nlon: int, sign: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source columns ``(lat, lon)`` of the two interpolation points and the weights ``(lat, 1)``."""
    n = np.floor(c).astype(np.int64)
    f = (c - n)[:, None]
    j = np.arange(nlon)[None, :]
    return (j - sign * n[:, None]) % nlon, (j - sign * (n[:, None] + 1)) % nlon, f


def _shift(a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Semi-Lagrangian eastward shift of ``a`` (..., lat, lon) by ``c`` cells per row:
    ``out[..., i, j] = (1 - f_i) a[..., i, j - n_i] + f_i a[..., i, j - n_i - 1]``."""
    j0, j1, f = _columns(c, a.shape[-1], 1)
    shape = a.shape[:-2] + j0.shape
    return (1 - f) * np.take_along_axis(a, np.broadcast_to(j0, shape), axis=-1) + f * np.take_along_axis(
        a, np.broadcast_to(j1, shape), axis=-1
    )


def _shift_adjoint(w: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The transpose of :func:`_shift`."""
    j0, j1, f = _columns(c, w.shape[-1], -1)
    shape = w.shape[:-2] + j0.shape
    return (1 - f) * np.take_along_axis(w, np.broadcast_to(j0, shape), axis=-1) + f * np.take_along_axis(
        w, np.broadcast_to(j1, shape), axis=-1
    )


def anomaly_step(
    dyn: PlantedDynamics, a: np.ndarray, prev: np.ndarray, lat: np.ndarray, resolution: float
) -> np.ndarray:
    """``F_A(a, prev)``: the deterministic next anomaly, float64.

    Args:
        dyn: Coefficients.
        a, prev: Anomalies at ``t`` and ``t - 6 h``, shape ``(4, lat, lon)`` (Z, P, T, V in
            their store units).
        lat: Latitudes of the rows (degrees).
        resolution: Grid spacing in degrees.

    Returns:
        The anomaly at ``t + 6 h`` without noise, ``(4, lat, lon)`` float64.
    """
    a = np.asarray(a, dtype=np.float64)
    prev = np.asarray(prev, dtype=np.float64)
    keep = 1.0 - np.asarray(dyn.relaxation)[:, None, None]
    gamma = np.asarray(dyn.gamma)[:, None, None]
    c = courant_numbers(dyn, lat, resolution)
    out = _shift((keep + gamma) * a - gamma * _shift(prev, c), c)
    out[P] += dyn.kappa * np.roll(a[Z], upstream_cells(dyn, resolution), axis=-1)
    out[V] += dyn.beta * np.tanh(a[T] / dyn.t_scale)
    return out


def anomaly_step_adjoint(
    dyn: PlantedDynamics, weights: np.ndarray, lat: np.ndarray, resolution: float
) -> tuple[np.ndarray, np.ndarray]:
    """The weights of the *linear* part of :func:`anomaly_step` seen from an output weighting.

    For a target ``sum(weights * F_A(a, prev))``, the linear terms contribute
    ``sum(g_now * a) + sum(g_prev * prev)``; the non-linear term (``beta * tanh``) is not in
    ``g_now``.

    Args:
        weights: ``(4, lat, lon)`` weights of the output anomaly.

    Returns:
        ``(g_now, g_prev)``, each ``(4, lat, lon)`` float64.
    """
    w = np.asarray(weights, dtype=np.float64)
    keep = 1.0 - np.asarray(dyn.relaxation)[:, None, None]
    gamma = np.asarray(dyn.gamma)[:, None, None]
    c = courant_numbers(dyn, lat, resolution)
    back = _shift_adjoint(w, c)
    g_now = (keep + gamma) * back
    g_now[Z] += dyn.kappa * np.roll(w[P], -upstream_cells(dyn, resolution), axis=-1)
    g_prev = -gamma * _shift_adjoint(back, c)
    return g_now, g_prev


def _winter_here(time: pd.Timestamp, lat: np.ndarray) -> np.ndarray:
    doy = float(time.dayofyear) + time.hour / 24.0
    winter_nh = 0.5 + 0.5 * math.cos(2 * math.pi * (doy - 15) / 365.25)
    return np.where(lat >= 0, winter_nh, 1 - winter_nh)


def anomaly_noise(dyn: PlantedDynamics, seed: int, time: pd.Timestamp, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """The seeded noise added at ``time`` (the step that ends there), ``(4, lat, lon)`` float64.

    Depends only on ``dyn``, ``seed``, ``time`` and the grid: the same at any block layout.
    """
    time = pd.Timestamp(time)
    hours = int(round((time - _NOISE_EPOCH) / pd.Timedelta(hours=1)))
    rng = np.random.default_rng([int(seed), 23, hours])
    centres = np.arange(-90.0, 90.0 + 1e-9, dyn.noise_lat_spacing)
    ks = np.asarray(dyn.noise_wavenumbers, dtype=np.float64)
    # (lat, m) bumps and (2k, lon) Fourier modes; coefficients (field, m, 2k)
    bumps = np.exp(-0.5 * ((lat[:, None] - centres[None, :]) / dyn.noise_lat_width) ** 2)
    lam = np.radians(lon)[None, :] * ks[:, None]
    modes = np.concatenate([np.cos(lam), np.sin(lam)], axis=0)
    coef = rng.standard_normal((len(DRIVEN), len(centres), 2 * len(ks)))
    # unit variance: each mode has variance 1/2, overlapping bumps add about sqrt(2 pi) w / spacing
    norm = math.sqrt(len(ks) * math.sqrt(math.pi) * dyn.noise_lat_width / dyn.noise_lat_spacing)
    xi = np.einsum("im,fmk,kj->fij", bumps, coef, modes, optimize=True) / norm
    season = 0.8 + 0.4 * _winter_here(time, lat)[None, :, None]
    return np.asarray(dyn.sigma)[:, None, None] * season * xi


def segments(times: pd.DatetimeIndex) -> list[pd.DatetimeIndex]:
    """Runs of consecutive 6-hourly times of a sorted time axis (the store's segments)."""
    times = pd.DatetimeIndex(times)
    if len(times) == 0:
        return []
    breaks = np.flatnonzero(np.diff(times.values) != np.timedelta64(6, "h")) + 1
    bounds = [0, *breaks.tolist(), len(times)]
    return [times[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def integrate_anomaly(
    dyn: PlantedDynamics,
    seed: int,
    start: pd.Timestamp,
    lat: np.ndarray,
    lon: np.ndarray,
    resolution: float,
) -> Iterator[tuple[pd.Timestamp, np.ndarray, np.ndarray]]:
    """Integrate a segment that starts at ``start`` (its first stored time), without end.

    Yields ``(time, anomaly, deterministic part)`` for ``time = start, start + 6 h, ...``:
    the anomaly after spin-up (``(4, lat, lon)`` float64) and ``F_A`` of the two steps
    before it (the anomaly minus its noise). Memory: two steps of anomalies.
    """
    shape = (len(DRIVEN), len(lat), len(lon))
    prev, now, det = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    start = pd.Timestamp(start)
    t = start - dyn.spinup_steps * STEP
    while True:
        if t >= start:
            yield t, now, det
        det = anomaly_step(dyn, now, prev, lat, resolution)
        t = t + STEP
        prev, now = now, det + anomaly_noise(dyn, seed, t, lat, lon)


def anomalies_at(
    dyn: PlantedDynamics,
    seed: int,
    axis: pd.DatetimeIndex,
    times: Sequence[pd.Timestamp],
    lat: np.ndarray,
    lon: np.ndarray,
    resolution: float,
) -> np.ndarray:
    """The anomaly at arbitrary ``times`` of a store whose time axis is ``axis``.

    Each time is read from the segment whose first time is the latest at or before it
    (the first segment for earlier times); between 6-hourly steps it interpolates
    linearly; before that segment's spin-up start it is zero.

    Returns:
        ``(len(times), 4, lat, lon)`` float64.
    """
    segs = segments(pd.DatetimeIndex(sorted(set(pd.DatetimeIndex(axis)))))
    out = np.zeros((len(times), len(DRIVEN), len(lat), len(lon)))
    if not segs:
        return out
    starts = pd.DatetimeIndex([s[0] for s in segs])
    times = pd.DatetimeIndex(times)
    owner = np.clip(np.searchsorted(starts.values, times.values, side="right") - 1, 0, len(segs) - 1)
    for k in np.unique(owner):
        idx = np.flatnonzero(owner == k)
        start = starts[k]
        spin = start - dyn.spinup_steps * STEP
        want = times[idx]
        # 6-hourly steps needed: floor and ceil of each wanted time
        offs = (want - start) / STEP
        lo = np.floor(offs).astype(int)
        hi = np.ceil(offs).astype(int)
        frac = np.asarray(offs - lo, dtype=np.float64)
        need_max = int(max(hi.max(), 0))
        cache: dict[int, np.ndarray] = {}
        needed = set(lo.tolist()) | set(hi.tolist())
        if any(n >= 0 for n in needed):
            for n, (_, a, _) in enumerate(integrate_anomaly(dyn, seed, start, lat, lon, resolution)):
                if n in needed:
                    cache[n] = a.copy()
                if n >= need_max:
                    break
        # steps inside the spin-up (negative offsets) are re-integrated from the spin-up start
        if any(n < 0 for n in needed):
            early = _spinup_states(dyn, seed, spin, lat, lon, resolution)
            for n in needed:
                if n < 0:
                    m = n + dyn.spinup_steps
                    cache[n] = early[m] if m >= 0 else np.zeros(out.shape[1:])
        for j, i in enumerate(idx):
            a0, a1 = cache[int(lo[j])], cache[int(hi[j])]
            out[i] = a0 if lo[j] == hi[j] else (1 - frac[j]) * a0 + frac[j] * a1
    return out


def _spinup_states(
    dyn: PlantedDynamics, seed: int, spin: pd.Timestamp, lat: np.ndarray, lon: np.ndarray, resolution: float
) -> list[np.ndarray]:
    """Anomalies at the spin-up's steps ``spin, spin + 6 h, ...`` (``spinup_steps`` of them)."""
    shape = (len(DRIVEN), len(lat), len(lon))
    prev, now = np.zeros(shape), np.zeros(shape)
    out = []
    t = spin
    for _ in range(dyn.spinup_steps):
        out.append(now.copy())
        det = anomaly_step(dyn, now, prev, lat, resolution)
        t = t + STEP
        prev, now = now, det + anomaly_noise(dyn, seed, t, lat, lon)
    return out
