"""Units of the input fields: what Aurora expects, declared units, conversions, plausibility.

Aurora's normalisation statistics are in ERA5's units, so a field in other units is
silently wrong (orography in metres given as surface geopotential is ~9.8 times too
small). Every variable the model reads belongs to one *quantity* with one expected unit:

============================  ==================  ========================================
Aurora variables              expected            also accepted (converted)
============================  ==================  ========================================
``2t``, ``t``                 ``K``               ``degC`` (+273.15), ``degF``
``10u``, ``10v``, ``u``,      ``m s-1``           ``km h-1`` (/3.6), ``kt`` (x0.514444)
``v``
``msl``                       ``Pa``              ``hPa``/``mbar`` (x100), ``kPa`` (x1000)
``z`` (levels), static ``z``  ``m2 s-2``          ``m``/``gpm`` (x9.80665: height), ``dam``
``q``                         ``kg kg-1``         ``1``, ``g kg-1`` (x0.001)
static ``lsm``                ``1`` (fraction)    ``%`` (x0.01)
static ``slt``                ``1`` (codes 0-7)
============================  ==================  ========================================

Declared units (the ``units`` attribute) are read with their usual spellings
(``m**2 s**-2``, ``m^2/s^2``, ``J kg-1``, ``kelvin``, ``(0 - 1)``, ``~``, ...; see
:func:`canonical_units`): :func:`resolve_units` gives the conversion to apply, or raises
``ValueError`` naming variable, file and units for units it does not know or that do
not fit the quantity. Where no units are declared, :func:`check_plausible` checks the
values' range per variable, level and time against bands wide enough for any real
atmosphere and narrow enough to catch a wrong unit factor (temperatures in degC, msl in
hPa, geopotential in metres above 700 hPa, specific humidity in g/kg, a global surface
geopotential whose highest point is below 1000 m); its error names variable, level,
time, the range seen and the unit the values look like.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "G",
    "QUANTITIES",
    "EXPECTED_UNITS",
    "UnitConversion",
    "canonical_units",
    "quantity_of",
    "resolve_units",
    "plausible_range",
    "standard_height",
    "check_plausible",
]

#: Standard gravity, m s-2 (geopotential = g x geopotential height).
G = 9.80665

#: Aurora variable ``(kind, short name)`` -> quantity.
QUANTITIES: dict[tuple[str, str], str] = {
    ("surf", "2t"): "temperature",
    ("atmos", "t"): "temperature",
    ("surf", "10u"): "wind",
    ("surf", "10v"): "wind",
    ("atmos", "u"): "wind",
    ("atmos", "v"): "wind",
    ("surf", "msl"): "pressure",
    ("atmos", "z"): "geopotential",
    ("static", "z"): "geopotential",
    ("atmos", "q"): "specific_humidity",
    ("static", "lsm"): "fraction",
    ("static", "slt"): "soil_type",
}

#: Quantity -> the unit Aurora expects.
EXPECTED_UNITS: dict[str, str] = {
    "temperature": "K",
    "wind": "m s-1",
    "pressure": "Pa",
    "geopotential": "m2 s-2",
    "specific_humidity": "kg kg-1",
    "fraction": "1",
    "soil_type": "1",
}

#: Quantity -> {canonical unit: (scale, offset)}: value in expected units = scale * x + offset.
_ACCEPTED: dict[str, dict[str, tuple[float, float]]] = {
    "temperature": {"K": (1.0, 0.0), "degC": (1.0, 273.15), "degF": (5.0 / 9.0, 273.15 - 32.0 * 5.0 / 9.0)},
    "wind": {"m s-1": (1.0, 0.0), "km h-1": (1.0 / 3.6, 0.0), "kt": (1852.0 / 3600.0, 0.0)},
    "pressure": {"Pa": (1.0, 0.0), "hPa": (100.0, 0.0), "kPa": (1000.0, 0.0)},
    "geopotential": {"m2 s-2": (1.0, 0.0), "m": (G, 0.0), "dam": (10.0 * G, 0.0)},
    "specific_humidity": {"kg kg-1": (1.0, 0.0), "1": (1.0, 0.0), "g kg-1": (1e-3, 0.0)},
    "fraction": {"1": (1.0, 0.0), "%": (0.01, 0.0)},
    "soil_type": {"1": (1.0, 0.0)},
}

#: Spellings (after :func:`_key`) -> canonical unit.
_SYNONYMS: dict[str, str] = {}


def _add(canonical: str, *spellings: str) -> None:
    for s in (canonical, *spellings):
        _SYNONYMS[_key(s)] = canonical


def _key(units: str) -> str:
    """Lower case, ``**`` and ``^`` dropped, ``.``/``·`` between symbols as a space, spaces collapsed."""
    s = units.strip().lower().replace("**", "").replace("^", "").replace("·", " ")
    s = re.sub(r"(?<=[a-z0-9])\.(?=[a-z])", " ", s)
    return re.sub(r"\s+", " ", s)


_add("K", "kelvin", "kelvins", "degK", "deg_K", "degree_K", "degrees_K", "°K")
_add("degC", "deg_C", "deg C", "°C", "celsius", "degree_Celsius", "degrees_Celsius", "degrees C", "C")
_add("degF", "deg_F", "°F", "fahrenheit", "degree_Fahrenheit", "degrees_Fahrenheit", "F")
_add("m s-1", "m/s", "ms-1", "m s -1", "m sec-1", "m/sec", "meter second-1", "metre second-1", "meters per second")
_add("m s-1", "metres per second", "meter/second", "metre/second", "mps")
_add("km h-1", "km/h", "kmh-1", "km/hr", "kph", "kilometers per hour", "kilometres per hour")
_add("kt", "kts", "knot", "knots", "kn")
_add("Pa", "pascal", "pascals", "N m-2", "N/m2", "kg m-1 s-2")
_add("hPa", "hectopascal", "hectopascals", "mbar", "mb", "millibar", "millibars")
_add("kPa", "kilopascal", "kilopascals")
_add("m2 s-2", "m2/s2", "m2s-2", "m2 s -2", "J kg-1", "J/kg", "J kg -1", "m2 / s2")
_add("m", "meter", "meters", "metre", "metres", "gpm", "geopotential meter", "geopotential metre", "m above sea level")
_add("dam", "decameter", "decameters", "decametre", "decametres", "gpdam", "geopotential decametre")
_add("kg kg-1", "kg/kg", "kg kg -1", "kg kg^-1")
_add("g kg-1", "g/kg", "g kg -1")
_add(
    "1", "~", "-", "dimensionless", "none", "unitless", "fraction", "(0 - 1)", "(0-1)", "0-1", "0 - 1", "code", "codes"
)
_add("1", "1.0", "proportion", "(code table 4.213)", "code table 4.213")
_add("%", "percent", "percentage", "(0 - 100)", "0-100")


def canonical_units(units: str) -> str | None:
    """The canonical symbol of a units string (``"m**2 s**-2"`` -> ``"m2 s-2"``), or None if unknown."""
    return _SYNONYMS.get(_key(units))


def quantity_of(kind: str, short: str) -> str:
    """The quantity of Aurora variable ``short`` of ``kind`` (``surf``, ``atmos``, ``static``).

    Raises:
        KeyError: not one of Aurora's variables.
    """
    try:
        return QUANTITIES[(kind, short)]
    except KeyError:
        raise KeyError(f"no units known for Aurora {kind} variable {short!r}") from None


@dataclasses.dataclass(frozen=True)
class UnitConversion:
    """How one variable's stored values become Aurora's units: ``scale * x + offset``.

    Attributes:
        variable: Store name of the variable.
        file: The file or store it was read from.
        declared: The ``units`` attribute as declared.
        units: Its canonical symbol.
        expected: The unit Aurora expects.
        scale, offset: The conversion.
    """

    variable: str
    file: str
    declared: str
    units: str
    expected: str
    scale: float = 1.0
    offset: float = 0.0

    @property
    def is_identity(self) -> bool:
        return self.scale == 1.0 and self.offset == 0.0

    def apply(self, arr: np.ndarray) -> np.ndarray:
        """The values in Aurora's units: float32, same shape (computed in float64)."""
        if self.is_identity:
            return arr
        return np.asarray(np.asarray(arr, dtype=np.float64) * self.scale + self.offset, dtype=np.float32)

    def describe(self) -> str:
        """One line for logs and provenance."""
        how = f"x {self.scale:.6g}" + (f" + {self.offset:.6g}" if self.offset else "")
        return f"{self.variable} in {self.file}: {self.declared!r} -> {self.expected} ({how})"


def resolve_units(kind: str, short: str, declared: str | None, variable: str, file: str) -> UnitConversion | None:
    """The conversion of a variable whose ``units`` attribute is ``declared``.

    Args:
        kind, short: The Aurora variable (``("surf", "msl")``, ``("static", "z")``, ...).
        declared: The ``units`` attribute; ``None`` or blank when the source declares none.
        variable, file: Store name and file, for messages.

    Returns:
        The :class:`UnitConversion` (identity when the units are already Aurora's), or
        ``None`` when no units are declared (check the values with :func:`check_plausible`).

    Raises:
        ValueError: units not known, or not units of this variable's quantity; the message
            names the variable, the file, the units and what is accepted.
    """
    if declared is None or not str(declared).strip():
        return None
    quantity = quantity_of(kind, short)
    expected = EXPECTED_UNITS[quantity]
    canon = canonical_units(str(declared))
    accepted = _ACCEPTED[quantity]
    if canon is None or canon not in accepted:
        why = "unknown units" if canon is None else f"units of another quantity ({canon})"
        raise ValueError(
            f"variable {variable!r} (Aurora {kind} {short}, {quantity.replace('_', ' ')}) in {file} declares "
            f"units {declared!r}: {why}; expected {expected} or one of {sorted(accepted)} (converted). "
            "Convert the file, or correct its units attribute"
        )
    scale, offset = accepted[canon]
    return UnitConversion(variable, file, str(declared), canon, expected, scale, offset)


# --------------------------------------------------------------------------------------
# Plausibility where no units are declared
# --------------------------------------------------------------------------------------

#: International Standard Atmosphere layers: base height (m), base temperature (K), lapse (K/m).
_ISA = ((0.0, 288.15, -0.0065), (11000.0, 216.65, 0.0), (20000.0, 216.65, 0.001), (32000.0, 228.65, 0.0028))
_R_DRY = 287.05287


def standard_height(p_hpa: float) -> float:
    """Geopotential height (m) of the pressure ``p_hpa`` in the standard atmosphere (0-47 km)."""
    p = 1013.25
    for i, (h0, t0, lapse) in enumerate(_ISA):
        h1 = _ISA[i + 1][0] if i + 1 < len(_ISA) else 47000.0
        t1 = t0 + lapse * (h1 - h0)
        p1 = p * (t1 / t0) ** (-G / (_R_DRY * lapse)) if lapse else p * math.exp(-G * (h1 - h0) / (_R_DRY * t0))
        if p_hpa >= p1 or i + 1 == len(_ISA):
            if lapse:
                return h0 + t0 / lapse * ((p_hpa / p) ** (-_R_DRY * lapse / G) - 1.0)
            return h0 + _R_DRY * t0 / G * math.log(p / p_hpa)
        p = p1
    raise AssertionError("unreachable")  # pragma: no cover


def plausible_range(kind: str, short: str, level_hpa: float | None = None) -> tuple[float, float]:
    """The band ``(low, high)``, in Aurora's units, that any real field of this variable lies in.

    Per level for atmospheric variables: geopotential within ``1500 m + 10 %`` of the
    standard-atmosphere height of the level (times g), specific humidity capped lower in
    the upper troposphere and stratosphere.
    """
    quantity = quantity_of(kind, short)
    if quantity == "temperature":
        return (160.0, 350.0) if kind == "surf" else (150.0, 350.0)
    if quantity == "wind":
        return (-250.0, 250.0)
    if quantity == "pressure":
        return (85000.0, 112000.0)
    if quantity == "geopotential":
        if kind == "static":
            return (-1000.0 * G, 9000.0 * G)
        if level_hpa is None:
            raise ValueError("the geopotential band needs the level")
        h = standard_height(float(level_hpa))
        d = 1500.0 + 0.1 * abs(h)
        return ((h - d) * G, (h + d) * G)
    if quantity == "specific_humidity":
        if level_hpa is None:
            raise ValueError("the specific humidity band needs the level")
        cap = 1e-4 if level_hpa < 100 else 5e-3 if level_hpa < 300 else 0.05
        return (-1e-3, cap)
    if quantity == "fraction":
        return (-1e-3, 1.0 + 1e-3)
    return (0.0, 7.0 + 1e-3)  # soil type codes


#: A global surface geopotential's highest point is above 1000 m (m2 s-2); no orography reaches 9000 m.
_MIN_GLOBAL_PEAK = 1000.0 * G


def _is_global(lat: np.ndarray | None, lon: np.ndarray | None) -> bool:
    if lat is None or lon is None or len(lat) < 2 or len(lon) < 2:
        return False
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    step = float(np.median(np.abs(np.diff(lon))))
    return float(lat.max() - lat.min()) >= 120.0 and len(lon) * step >= 359.0


def _looks_like(kind: str, short: str, lo: float, hi: float, level: float | None, peak_ok) -> list[str]:
    """Units under whose conversion ``lo .. hi`` would be plausible."""
    quantity = quantity_of(kind, short)
    band = plausible_range(kind, short, level)
    out = []
    for unit, (scale, offset) in _ACCEPTED[quantity].items():
        if scale == 1.0 and offset == 0.0:
            continue
        a, b = sorted((scale * lo + offset, scale * hi + offset))
        if band[0] <= a and b <= band[1] and peak_ok(b):
            out.append(f"{unit} ({a:.6g} .. {b:.6g} {EXPECTED_UNITS[quantity]} converted)")
    return out


def check_plausible(
    kind: str,
    short: str,
    arr: np.ndarray,
    variable: str,
    where: str,
    times: Sequence[pd.Timestamp] | None = None,
    levels: Sequence[float] | None = None,
    lat: np.ndarray | None = None,
    lon: np.ndarray | None = None,
    declared: str | None = None,
) -> None:
    """Check a field, in Aurora's units, against :func:`plausible_range`.

    Run on every read: for a field without declared units it catches a unit factor; for
    one with declared units (checked after their conversion) a wrong units attribute, or
    values that are not data at all (chunks never written read as a fill value of 0: 0 K,
    0 Pa).

    Args:
        kind, short: The Aurora variable.
        arr: Finite values: ``(time, lat, lon)`` (surface), ``(time, level, lat, lon)``
            (atmospheric) or ``(lat, lon)`` (static).
        variable, where: Store name and the file or store, for messages.
        times: Times of the first axis (surface and atmospheric).
        levels: Pressure levels (hPa) of the level axis (atmospheric).
        lat, lon: The grid; a static geopotential on a global grid must also peak above 1000 m.
        declared: The units the source declares (``arr`` is already converted from them), or
            None when it declares none.

    Raises:
        ValueError: naming variable, level, time, the range seen, the plausible range and,
            where one fits, the unit the values look like.
    """
    quantity = quantity_of(kind, short)
    expected = EXPECTED_UNITS[quantity]
    arr = np.asarray(arr)
    if kind == "static":
        blocks = [(None, None, arr)]
    else:
        if times is None or len(times) != arr.shape[0]:
            raise ValueError(f"check_plausible({variable!r}): one time per step of the first axis is needed")
        if kind == "atmos":
            if levels is None or len(levels) != arr.shape[1]:
                raise ValueError(f"check_plausible({variable!r}): one level per step of the level axis is needed")
        blocks = []
        lows = arr.reshape(arr.shape[: 2 if kind == "atmos" else 1] + (-1,)).min(axis=-1)
        highs = arr.reshape(arr.shape[: 2 if kind == "atmos" else 1] + (-1,)).max(axis=-1)
        for idx in np.ndindex(lows.shape):
            blocks.append((idx, (float(lows[idx]), float(highs[idx])), None))
    global_peak = kind == "static" and quantity == "geopotential" and _is_global(lat, lon)
    for idx, rng, field in blocks:
        lo, hi = rng if rng is not None else (float(np.min(field)), float(np.max(field)))
        level = float(levels[idx[1]]) if kind == "atmos" else None
        band = plausible_range(kind, short, level)
        problem = None
        if lo < band[0] or hi > band[1]:
            problem = f"outside the plausible range {band[0]:.6g} .. {band[1]:.6g} {expected}"
        elif global_peak and hi < _MIN_GLOBAL_PEAK:
            problem = (
                f"its highest value is below {_MIN_GLOBAL_PEAK:.6g} {expected} (1000 m), implausible for the "
                "surface geopotential of a global grid"
            )
        if problem is None:
            continue
        at = ""
        if kind == "atmos":
            at += f", level {levels[idx[1]]:g} hPa"
        if kind != "static":
            at += f", time {pd.Timestamp(times[idx[0]]):%Y-%m-%d %H:%M}"
        peak_ok = (lambda v: v >= _MIN_GLOBAL_PEAK) if global_peak else (lambda v: True)
        if declared is not None:
            raise ValueError(
                f"implausible values of variable {variable!r} (Aurora {kind} {short}){at} in {where}: range seen "
                f"{lo:.6g} .. {hi:.6g} {expected} (converted from its declared units {declared!r}), {problem}. "
                "Either the units attribute is wrong, or these are not data (e.g. a constant field such as "
                "0 is what a zarr store reads where chunks were never written); check the source"
            )
        hints = _looks_like(kind, short, lo, hi, level, peak_ok)
        hint = f" The values look like {' or '.join(hints)}." if hints else ""
        raise ValueError(
            f"implausible values of variable {variable!r} (Aurora {kind} {short}){at} in {where}: range seen "
            f"{lo:.6g} .. {hi:.6g}, {problem}. The source declares no units for it, so they were checked "
            f"against Aurora's unit ({expected}).{hint} Declare the units (the variable's units attribute) to have "
            "them converted, or convert the data"
        )
