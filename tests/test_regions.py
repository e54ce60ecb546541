"""Named boxes (aurora_xai.regions)."""

from __future__ import annotations

import numpy as np
import pytest

from aurora_xai.regions import Region


def test_region_across_prime_meridian():
    europe = Region("europe", 30, 72, 348, 45)
    assert europe.crosses_meridian
    lon = np.arange(0, 360, 3.0)
    inside = lon[europe.lon_mask(lon)]
    assert set(inside) == set(np.r_[np.arange(0, 46, 3.0), np.arange(348, 360, 3.0)])
    assert europe.contains(50, 0) and europe.contains(50, 350) and not europe.contains(50, 100)
    assert Region("neg", 30, 72, -12, 45).lon_mask(np.array([350.0, 10.0, 100.0])).tolist() == [True, True, False]


def test_region_rejects_bad_bounds():
    with pytest.raises(ValueError, match="region 'x'"):
        Region("x", 50, 24, 0, 10)
    with pytest.raises(ValueError, match="coincide"):
        Region("y", 0, 10, 20, 380 - 360)
