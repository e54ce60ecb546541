"""Latitude weights: exact cell areas against the integral of cos(latitude)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

from aurora_xai.grid import band_weights, lat_cell_edges, lat_weights

LAT721 = np.linspace(90, -90, 721)  # WeatherBench 2's 0.25 deg grid, poles included
LAT720 = np.linspace(89.875, -89.875, 720)  # cell centres, no pole row


def _cos_integral(upper: float, lower: float) -> float:
    """Integral of cos(latitude) over [lower, upper] in degrees, by quadrature."""
    return quad(lambda d: np.cos(np.deg2rad(d)), lower, upper)[0] * np.pi / 180.0


def test_weights_are_the_integral_of_cos_over_each_cell():
    w = lat_weights(LAT721)
    # the cells of a 0.25 deg grid end halfway between centres and at the poles
    upper = np.clip(LAT721 + 0.125, -90, 90)
    lower = np.clip(LAT721 - 0.125, -90, 90)
    closed = np.sin(np.deg2rad(upper)) - np.sin(np.deg2rad(lower))
    np.testing.assert_allclose(w, closed / closed.mean(), rtol=1e-12)
    assert w.mean() == pytest.approx(1.0)
    assert w[0] > 0 and w[-1] > 0  # the pole cells have an area (cos at the centre gives 0)
    assert w[0] == pytest.approx(w[-1]) and w[0] < w[1] / 3


def test_weights_of_an_irregular_grid_by_quadrature():
    lat = np.array([80.0, 61.0, 35.0, 12.0, -3.0, -30.0, -70.0])
    w = lat_weights(lat)
    edges = [89.5, 70.5, 48.0, 23.5, 4.5, -16.5, -50.0, -90.0]  # half a spacing beyond the ends
    areas = np.array([_cos_integral(edges[i], edges[i + 1]) for i in range(len(lat))])
    np.testing.assert_allclose(w, areas / areas.mean(), rtol=1e-9)
    np.testing.assert_allclose(lat_cell_edges(lat), edges)


def test_hemispheres_hold_half_the_weight():
    w = lat_weights(LAT720)
    assert w[LAT720 > 0].sum() == pytest.approx(w.sum() / 2, rel=1e-12)
    # the band north of 30 N holds (1 - sin 30) / 2 = a quarter of the sphere
    assert w[LAT720 > 30].sum() / w.sum() == pytest.approx(0.25, abs=1e-12)
    w = lat_weights(LAT721)  # the equator row straddles: half of it on each side
    north = w[LAT721 > 0].sum() + w[LAT721 == 0].sum() / 2
    assert north == pytest.approx(w.sum() / 2, rel=1e-12)


def test_interior_cells_weigh_as_cos_at_the_centre():
    """For equal spacing, sin(c + h) - sin(c - h) = 2 sin(h) cos(c): cos is exact inside."""
    w = lat_weights(LAT721)[1:-1]
    ratio = w / np.cos(np.deg2rad(LAT721[1:-1]))
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-9)


def test_order_and_regional_grids():
    np.testing.assert_allclose(lat_weights(LAT721[::-1]), lat_weights(LAT721)[::-1])
    # a regional grid ends half a spacing beyond its last centres, not at the poles
    np.testing.assert_allclose(lat_cell_edges(np.array([50.0, 40.0, 30.0])), [55, 45, 35, 25])
    np.testing.assert_allclose(lat_cell_edges(np.array([30.0, 40.0, 50.0])), [25, 35, 45, 55])
    assert lat_weights(np.array([10.0])).tolist() == [1.0]


def test_band_weights_add_up_over_merged_cells():
    edges = lat_cell_edges(LAT721)
    fine = band_weights(edges)
    coarse = band_weights(edges[[0, 4, 8, 100, 721]])
    sums = np.array([fine[0:4].sum(), fine[4:8].sum(), fine[8:100].sum(), fine[100:721].sum()])
    np.testing.assert_allclose(coarse / coarse.sum(), sums / sums.sum(), rtol=1e-12)


@pytest.mark.parametrize(
    "lat, match",
    [
        (np.array([10.0, 20.0, 15.0]), "strictly"),
        (np.array([10.0, 10.0]), "strictly"),
        (np.array([95.0, 0.0]), "outside"),
        (np.zeros((2, 2)), "1-D"),
        (np.array([]), "1-D"),
    ],
)
def test_bad_latitudes_are_refused(lat, match):
    with pytest.raises(ValueError, match=match):
        lat_weights(lat)
