"""Variable names: Aurora's short names and their names in the ERA5 stores."""

from __future__ import annotations

__all__ = [
    "SURF_VARS",
    "ATMOS_VARS",
    "STATIC_VARS",
    "LEVELS",
    "WB2_NAMES",
    "UNITS",
    "LONG_NAMES",
]

#: Aurora's surface variables, in the model's order.
SURF_VARS: tuple[str, ...] = ("2t", "10u", "10v", "msl")
#: Aurora's atmospheric (pressure-level) variables.
ATMOS_VARS: tuple[str, ...] = ("z", "u", "v", "t", "q")
#: Aurora's static variables.
STATIC_VARS: tuple[str, ...] = ("lsm", "z", "slt")
#: The 13 WeatherBench 2 pressure levels, in hPa.
LEVELS: tuple[int, ...] = (50, 100, 150, 200, 250, 300, 400, 500, 600, 700, 850, 925, 1000)

#: WeatherBench 2 (and ARCO-ERA5) variable names, keyed by kind and Aurora name.
WB2_NAMES: dict[str, dict[str, str]] = {
    "surf": {
        "2t": "2m_temperature",
        "10u": "10m_u_component_of_wind",
        "10v": "10m_v_component_of_wind",
        "msl": "mean_sea_level_pressure",
    },
    "atmos": {
        "z": "geopotential",
        "u": "u_component_of_wind",
        "v": "v_component_of_wind",
        "t": "temperature",
        "q": "specific_humidity",
    },
    "static": {
        "z": "geopotential_at_surface",
        "lsm": "land_sea_mask",
        "slt": "soil_type",
    },
}

#: Units of the store variables (CF style).
UNITS: dict[str, str] = {
    "2m_temperature": "K",
    "10m_u_component_of_wind": "m s-1",
    "10m_v_component_of_wind": "m s-1",
    "mean_sea_level_pressure": "Pa",
    "geopotential": "m2 s-2",
    "u_component_of_wind": "m s-1",
    "v_component_of_wind": "m s-1",
    "temperature": "K",
    "specific_humidity": "kg kg-1",
    "geopotential_at_surface": "m2 s-2",
    "land_sea_mask": "1",
    "soil_type": "1",
}

LONG_NAMES: dict[str, str] = {
    "2m_temperature": "2 metre temperature",
    "10m_u_component_of_wind": "10 metre U wind component",
    "10m_v_component_of_wind": "10 metre V wind component",
    "mean_sea_level_pressure": "Mean sea level pressure",
    "geopotential": "Geopotential",
    "u_component_of_wind": "U component of wind",
    "v_component_of_wind": "V component of wind",
    "temperature": "Temperature",
    "specific_humidity": "Specific humidity",
    "geopotential_at_surface": "Geopotential at surface",
    "land_sea_mask": "Land-sea mask",
    "soil_type": "Soil type",
}
