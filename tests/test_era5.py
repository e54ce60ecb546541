"""Reading samples from a store (aurora_xai.data.era5): missing times, the batch layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from aurora_xai.data.era5 import ERA5Source


def test_missing_time_is_named(small_store):
    src = ERA5Source(str(small_store))
    with pytest.raises(KeyError, match="2005-03-01 00:00"):
        src.batch(pd.Timestamp("2005-03-01T06"))


def test_batch_layout(small_store):
    src = ERA5Source(str(small_store))
    b = src.batch(pd.Timestamp("2005-01-05T06"))
    assert b.surf_vars["msl"].shape == (1, 2, 61, 120)
    assert b.atmos_vars["t"].shape == (1, 2, 13, 61, 120)
    assert b.static_vars["lsm"].shape == (61, 120)
    assert b.metadata.time[0] == pd.Timestamp("2005-01-05T06", tz="UTC").to_pydatetime()  # aware UTC
    raw = xr.open_zarr(small_store)["mean_sea_level_pressure"].sel(time="2005-01-05T00").values
    np.testing.assert_array_equal(b.surf_vars["msl"][0, 0].numpy(), raw)
