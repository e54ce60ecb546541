"""Summaries and figures of relevance datasets."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import xarray as xr

from aurora_xai.attribution._testing import synthetic_batch
from aurora_xai.attribution.figures import (
    plot_centroid_tilt,
    plot_relevance_maps,
    plot_vertical_profile,
)
from aurora_xai.attribution.methods import compute_relevance
from aurora_xai.attribution.summaries import (
    circular_mean_lon,
    relevance_centroids,
    relevance_table,
    vertical_profile,
)
from aurora_xai.attribution.targets import ForecastTarget
from aurora_xai.model import ModelSpec, build_model
from aurora_xai.regions import Region

torch.set_num_threads(1)

LAT = np.linspace(90, -90, 19)
LON = np.arange(36) * 10.0
LEVELS = np.array([250.0, 500.0, 850.0])


def _planted() -> xr.Dataset:
    """t: +2 at (40N, 350E) at 850 hPa, +1 at (40N, 10E) at 500 hPa, -3 at (-20N, 100E)
    at 250 hPa; msl: 1 at (0, 180); a static field of zeros."""
    t = np.zeros((2, 3, LAT.size, LON.size))
    ilat40 = int(np.argmin(abs(LAT - 40)))
    ilat_20 = int(np.argmin(abs(LAT + 20)))
    t[1, 2, ilat40, 35] = 2.0
    t[0, 1, ilat40, 1] = 1.0
    t[1, 0, ilat_20, 10] = -3.0
    msl = np.zeros((2, LAT.size, LON.size))
    msl[1, 9, 18] = 1.0
    lsm = ((LAT[:, None] > 20) & (LON[None, :] < 90)).astype(float)
    ds = xr.Dataset(
        {
            "t": (("history", "level", "latitude", "longitude"), t, {"kind": "atmospheric"}),
            "msl": (("history", "latitude", "longitude"), msl, {"kind": "surface"}),
            "static_lsm": (("latitude", "longitude"), np.zeros_like(lsm), {"kind": "static"}),
        },
        coords={
            "history": [-6.0, 0.0],
            "level": LEVELS,
            "latitude": LAT,
            "longitude": LON,
            "land_sea_mask": (("latitude", "longitude"), lsm),
        },
        attrs={"target": "planted"},
    )
    return ds


def test_circular_mean_lon_wraps():
    assert circular_mean_lon(np.array([350.0, 10.0]), np.array([1.0, 1.0])) == pytest.approx(0.0, abs=1e-9)
    assert circular_mean_lon(np.array([350.0, 20.0]), np.array([2.0, 1.0])) == pytest.approx(
        np.rad2deg(
            np.arctan2(
                2 * np.sin(np.deg2rad(-10)) + np.sin(np.deg2rad(20)),
                2 * np.cos(np.deg2rad(-10)) + np.cos(np.deg2rad(20)),
            )
        )
        % 360
    )
    assert np.isnan(circular_mean_lon(np.array([0.0, 180.0]), np.array([1.0, 1.0])))


def test_vertical_profile_planted():
    ds = _planted()
    prof = vertical_profile(ds)
    assert list(prof.index) == [250.0, 500.0, 850.0]
    assert list(prof.columns) == ["t"]
    np.testing.assert_allclose(prof["t"].values, [3.0, 1.0, 2.0])
    signed = vertical_profile(ds, signed=True)
    np.testing.assert_allclose(signed["t"].values, [-3.0, 1.0, 2.0])
    europe = vertical_profile(ds, region=Region("eu", 30, 50, 340, 20))
    np.testing.assert_allclose(europe["t"].values, [0.0, 1.0, 2.0])


def test_centroids_planted():
    ds = _planted()
    c = relevance_centroids(ds)
    t850 = c[(c.variable == "t") & (c.level == 850.0)].iloc[0]
    assert t850.lat == pytest.approx(40.0) and t850.lon == pytest.approx(350.0)
    # Whole field at the surface (msl): one cell.
    m = c[c.variable == "msl"].iloc[0]
    assert np.isnan(m.level) and m.lat == pytest.approx(0.0) and m.lon == pytest.approx(180.0)
    # Two cells either side of 0 E: the circular mean, not 180.
    ds2 = ds.copy(deep=True)
    ds2["t"][0, 2, 5, 1] = 2.0  # 850 hPa, (40N, 10E), weight 2 like (40N, 350E)
    c2 = relevance_centroids(ds2, variables=["t"])
    row = c2[c2.level == 850.0].iloc[0]
    assert row.lon == pytest.approx(0.0, abs=1e-9) or row.lon == pytest.approx(360.0)
    assert row.abs_relevance == pytest.approx(4.0)


def test_relevance_table_shares():
    df = relevance_table(_planted())
    assert df["share_absolute"].sum() == pytest.approx(1.0)
    row = df[(df.variable == "t") & (df.level == 250.0)].iloc[0]
    assert row.signed == pytest.approx(-3.0) and row.absolute == pytest.approx(3.0)
    assert row["absolute_h0"] == pytest.approx(3.0) and row["absolute_h-6"] == pytest.approx(0.0)
    assert set(df.kind) == {"atmospheric", "surface", "static"}


def test_relevance_maps_figure():
    ds = _planted()
    track = [(30.0, 330.0), (35.0, 345.0), (40.0, 355.0), (42.0, 5.0), (45.0, 15.0)]
    fig = plot_relevance_maps(ds, "t", levels=[500.0, 850.0], track=track)
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    panels = [ax for ax in axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["500 hPa", "850 hPa"]
    for ax in panels:
        assert ax.get_xlabel() == "Longitude (°E)" and ax.get_ylabel() == "Latitude (°N)"
        assert len(ax.collections) >= 2  # the map and the coastline contour
        assert len(ax.lines) >= 3  # track split at 0/360, its points, the last position
    cbar = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"][0]
    assert "Relevance" in cbar.get_ylabel()
    mesh = panels[0].collections[0]
    assert mesh.norm.vmin == -mesh.norm.vmax  # symmetric diverging scale
    plt.close(fig)
    fig = plot_relevance_maps(ds, "msl", history=0.0)
    plt.close(fig)


def test_profile_and_tilt_figures():
    ds = _planted()
    fig = plot_vertical_profile(vertical_profile(ds, signed=True))
    ax = fig.axes[0]
    assert ax.get_ylabel() == "Pressure (hPa)"
    lo, hi = ax.get_ylim()
    assert lo > hi  # pressure decreases upwards
    assert [t.get_text() for t in ax.get_yticklabels()] == ["250", "500", "850"]
    plt.close(fig)
    fig = plot_centroid_tilt(relevance_centroids(ds))
    ax_lon, ax_lat = fig.axes[:2]
    assert ax_lon.get_ylabel() == "Pressure (hPa)"
    assert "longitude" in ax_lon.get_xlabel() and "latitude" in ax_lat.get_xlabel()
    assert ax_lon.get_ylim()[0] > ax_lon.get_ylim()[1]
    xs = ax_lon.lines[0].get_xdata()
    assert np.ptp(xs) < 180  # unwrapped across 0/360 (350 E and 10 E stay close)
    plt.close(fig)


def test_figures_from_computed_relevance():
    model = build_model(ModelSpec.from_schema(name="tiny", seed=0))
    batch = synthetic_batch(17, 32, levels=(250, 500, 850), dtype=torch.float32)
    ds = compute_relevance(model, batch, ForecastTarget("msl", None, Region("b", 0, 40, 0, 90)))
    for fig in (
        plot_relevance_maps(ds, "z", track=[(20.0, 30.0), (30.0, 40.0)]),
        plot_relevance_maps(ds, "static_lsm"),
        plot_vertical_profile(vertical_profile(ds)),
        plot_centroid_tilt(relevance_centroids(ds), variables=["z", "t"]),
    ):
        assert fig.axes
        plt.close(fig)
    assert len(relevance_table(ds)) == 4 + 3 + 5 * 3
