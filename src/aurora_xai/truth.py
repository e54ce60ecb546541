"""The known answer of the synthetic store: its 6-hourly map F and F's exact attribution.

The synthetic store's driven fields (:data:`~aurora_xai.data.dynamics.DRIVEN`: 500 hPa
geopotential, mean sea-level pressure, 850 hPa temperature, 10 m meridional wind) follow

    x(t + 6 h) = F(x(t), x(t - 6 h)) + noise(t + 6 h),
    F(x(t), x(t - 6 h)) = B(t + 6 h) + F_A(x(t) - B(t), x(t - 6 h) - B(t - 6 h)),

with ``B`` the analytic background (:func:`~aurora_xai.data.synthetic.background_fields`)
and ``F_A`` the planted anomaly map (:mod:`aurora_xai.data.dynamics`, every term and
coefficient there). Every other field at ``t + 6 h`` is ``B(t + 6 h)`` and depends on no
input.

:func:`planted_forecast` computes F in float64. :func:`exact_attribution` attributes a
forecast target (one driven variable at ``t + 6 h``, mean over a box, area weighted by
exact cell areas or not) to every input: variable, level, history step (``t - 6 h``,
``t``) and grid cell, relative to a baseline input ``x0`` (default: the background at
both steps, i.e. zero anomaly):

* the linear part of ``F_A`` (advection, relaxation, history term, cross-level
  coupling) gets weight x (input - baseline), the weights from the exact adjoint of the
  linear map;
* the non-linear term ``beta * tanh(T850 / t_scale)`` gets its integrated gradients
  from the baseline along the straight path. Each output cell's ``tanh`` reads one
  input, so the integral is exact in closed form:
  ``w_U * beta * (tanh(a_T / t_scale) - tanh(a0_T / t_scale))``;
* completeness: the attributions sum to ``target(x) - target(x0)`` (to float64
  rounding); the history step gets exactly what F gives it (``-gamma`` through the
  twice-advected previous anomaly).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .data.dynamics import DEFAULT_DYNAMICS, DRIVEN, STEP, T, V, anomaly_step, anomaly_step_adjoint
from .data.synthetic import SyntheticSpec, background_fields
from .data.variables import LEVELS, WB2_NAMES
from .grid import region_cell_weights
from .regions import Region

__all__ = [
    "TruthTarget",
    "background_state",
    "driven_state",
    "exact_attribution",
    "exact_attribution_parts",
    "planted_forecast",
    "target_value",
]


@dataclasses.dataclass(frozen=True)
class TruthTarget:
    """A forecast target: one driven variable at ``t + 6 h``, mean over a box.

    Args:
        variable: Store name of a driven variable (``mean_sea_level_pressure``, ...).
        level: Its level in hPa for an atmospheric variable (500 for ``geopotential``,
            850 for ``temperature``), None for a surface variable.
        region: The box (cells selected by their centre).
        area_weighted: Weight the cells by their exact area (else all equally).

    Raises:
        ValueError: the variable and level are not a driven field.
    """

    variable: str
    level: int | None
    region: Region
    area_weighted: bool = True

    def __post_init__(self) -> None:
        if (self.variable, self.level) not in DRIVEN:
            raise ValueError(
                f"truth target {self.variable!r} at level {self.level}: not a driven field; F drives {list(DRIVEN)}"
            )

    @property
    def index(self) -> int:
        """Its position in :data:`~aurora_xai.data.dynamics.DRIVEN`."""
        return DRIVEN.index((self.variable, self.level))

    def weights(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Weights ``(4, lat, lon)`` of the target over the driven fields' output (sum 1)."""
        w = np.zeros((len(DRIVEN), len(lat), len(lon)))
        w[self.index] = region_cell_weights(self.region, lat, lon, self.area_weighted, key="truth target")
        return w


def driven_state(ds: xr.Dataset, times: Sequence[pd.Timestamp]) -> np.ndarray:
    """The driven fields of a store at ``times``, ``(len(times), 4, lat, lon)`` float64.

    ``ds`` has the store's variables and dims ``(time, [level,] latitude, longitude)``.
    """
    out = []
    for name, level in DRIVEN:
        da = ds[name].sel(time=pd.DatetimeIndex(times))
        if level is not None:
            da = da.sel(level=level)
        out.append(da.transpose("time", "latitude", "longitude").values.astype(np.float64))
    return np.stack(out, axis=1)


def background_state(spec: SyntheticSpec, times: Sequence[pd.Timestamp]) -> np.ndarray:
    """The background ``B`` of the driven fields at ``times``, ``(len(times), 4, lat, lon)`` float64.

    One time at a time: working memory about one
    :func:`~aurora_xai.data.synthetic.step_bytes` (~1.9 GB at 0.25 deg).
    """
    out = []
    for t in pd.DatetimeIndex(times):
        bg = background_fields(spec, pd.DatetimeIndex([t]))
        out.append(
            np.stack(
                [bg[name][0] if level is None else bg[name][0, list(LEVELS).index(level)] for name, level in DRIVEN]
            )
        )
    return np.stack(out)


def planted_forecast(spec: SyntheticSpec, prev: np.ndarray, now: np.ndarray, time: pd.Timestamp) -> np.ndarray:
    """F: the driven fields at ``time + 6 h`` from those at ``time - 6 h`` and ``time``.

    Args:
        spec: The store's spec (grid, seed, storms: the background).
        prev, now: Driven fields at ``time - 6 h`` and ``time``, ``(4, lat, lon)`` in the
            store's units (:func:`driven_state`).
        time: The current step's time.

    Returns:
        ``(4, lat, lon)`` float64, without the noise.
    """
    time = pd.Timestamp(time)
    b = background_state(spec, [time - STEP, time, time + STEP])
    a = np.asarray(now, dtype=np.float64) - b[1]
    p = np.asarray(prev, dtype=np.float64) - b[0]
    return b[2] + anomaly_step(DEFAULT_DYNAMICS, a, p, spec.latitudes, spec.resolution)


def target_value(spec: SyntheticSpec, prev: np.ndarray, now: np.ndarray, time: pd.Timestamp, target: TruthTarget):
    """The target of F's forecast: its box mean at ``time + 6 h`` (float)."""
    out = planted_forecast(spec, prev, now, time)
    return float(np.sum(target.weights(spec.latitudes, spec.longitudes) * out))


def exact_attribution_parts(
    spec: SyntheticSpec,
    prev: np.ndarray,
    now: np.ndarray,
    time: pd.Timestamp,
    target: TruthTarget,
    baseline: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """The exact attribution of a target, split into F's linear and non-linear parts.

    Args:
        spec, prev, now, time: As :func:`planted_forecast`.
        target: What is attributed.
        baseline: ``(prev0, now0)`` baseline inputs ``(4, lat, lon)``; None: the
            background at ``time - 6 h`` and ``time`` (zero anomaly).

    Returns:
        ``(linear, nonlinear, value, baseline_value)``: the attributions, each
        ``(2, 4, lat, lon)`` float64 (history step ``t - 6 h`` then ``t``; driven fields in
        :data:`~aurora_xai.data.dynamics.DRIVEN` order), the target at the input and at the
        baseline. ``linear.sum() + nonlinear.sum() == value - baseline_value`` to rounding.
    """
    time = pd.Timestamp(time)
    lat, lon = spec.latitudes, spec.longitudes
    b = background_state(spec, [time - STEP, time, time + STEP])
    x = np.stack([np.asarray(prev, np.float64), np.asarray(now, np.float64)])
    x0 = (
        b[:2]
        if baseline is None
        else np.stack([np.asarray(baseline[0], np.float64), np.asarray(baseline[1], np.float64)])
    )
    w = target.weights(lat, lon)
    g_now, g_prev = anomaly_step_adjoint(DEFAULT_DYNAMICS, w, lat, spec.resolution)
    linear = np.stack([g_prev, g_now]) * (x - x0)
    nonlinear = np.zeros_like(linear)
    dyn = DEFAULT_DYNAMICS
    a_t, a0_t = x[1, T] - b[1, T], x0[1, T] - b[1, T]
    nonlinear[1, T] = w[V] * dyn.beta * (np.tanh(a_t / dyn.t_scale) - np.tanh(a0_t / dyn.t_scale))

    def value(inp: np.ndarray) -> float:
        out = b[2] + anomaly_step(dyn, inp[1] - b[1], inp[0] - b[0], lat, spec.resolution)
        return float(np.sum(w * out))

    return linear, nonlinear, value(x), value(x0)


def exact_attribution(
    spec: SyntheticSpec,
    prev: np.ndarray,
    now: np.ndarray,
    time: pd.Timestamp,
    target: TruthTarget,
    baseline: tuple[np.ndarray, np.ndarray] | None = None,
) -> xr.Dataset:
    """F's exact attribution of ``target`` per variable, level, history step and grid cell.

    The sum of the linear and non-linear parts (:func:`exact_attribution_parts`) as a
    Dataset: one variable per driven store variable, dims ``(history, latitude,
    longitude)`` for a surface variable and ``(history, level, latitude, longitude)`` (all
    13 levels, zero but at the driven level) for an atmospheric one; ``history`` holds the
    input times ``(t - 6 h, t)``; each variable's attributes name it in Aurora's terms
    (``aurora_kind``, ``aurora_name``). Every variable not in the Dataset, and every other
    level, gets exactly zero. Attributes: the target, its value at the input and at the
    baseline, the baseline (``background`` or ``given``), the linear and non-linear
    totals, the weighting.
    """
    time = pd.Timestamp(time)
    linear, nonlinear, val, val0 = exact_attribution_parts(spec, prev, now, time, target, baseline)
    total = linear + nonlinear
    coords = {
        "history": pd.DatetimeIndex([time - STEP, time]).values,
        "level": np.asarray(LEVELS, dtype=np.int64),
        "latitude": spec.latitudes,
        "longitude": spec.longitudes,
    }
    aurora = {store: (kind, short) for kind in ("surf", "atmos") for short, store in WB2_NAMES[kind].items()}
    data = {}
    for k, (name, level) in enumerate(DRIVEN):
        kind, short = aurora[name]
        attrs = {"aurora_kind": kind, "aurora_name": short, "driven_level": -1 if level is None else int(level)}
        if level is None:
            data[name] = (("history", "latitude", "longitude"), total[:, k], attrs)
        else:
            full = np.zeros((2, len(LEVELS)) + total.shape[-2:])
            full[:, list(LEVELS).index(level)] = total[:, k]
            data[name] = (("history", "level", "latitude", "longitude"), full, attrs)
    r = target.region
    return xr.Dataset(
        data,
        coords=coords,
        attrs={
            "target_variable": target.variable,
            "target_level": -1 if target.level is None else int(target.level),
            "target_region": f"{r.name}: lat {r.lat_min}..{r.lat_max}, lon {r.lon_min}..{r.lon_max}",
            "target_weighting": "exact cell area" if target.area_weighted else "equal",
            "target_time": f"{time + STEP:%Y-%m-%d %H:%M}",
            "value": val,
            "baseline_value": val0,
            "baseline": "background" if baseline is None else "given",
            "linear_total": float(linear.sum()),
            "nonlinear_total": float(nonlinear.sum()),
            "method": "linear terms: weight x (input - baseline); tanh term: integrated gradients (closed form)",
        },
    )
