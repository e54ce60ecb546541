"""Perturbation tests of attribution faithfulness: masks, masked values, metrics, experiment."""

from __future__ import annotations

import dataclasses
import datetime
import re

import numpy as np
import pandas as pd
import pytest
import torch
from presets import preset
from torch import nn

from aurora_xai.attribution._testing import synthetic_batch
from aurora_xai.attribution.methods import compute_relevance
from aurora_xai.attribution.targets import ForecastTarget
from aurora_xai.config import check_perturbation_config, lrp_rule_differences
from aurora_xai.model import ModelSpec, build_model
from aurora_xai.perturbation.apply import climatology_times, masked_batch, normalisation_fill, smoothed_fill
from aurora_xai.perturbation.benchmark import benchmark_batched_masks
from aurora_xai.perturbation.experiment import run_experiment
from aurora_xai.perturbation.forward import masked_fields
from aurora_xai.perturbation.headline import headline
from aurora_xai.perturbation.masks import (
    connected_components,
    n_cells,
    random_blob_masks,
    random_scattered_masks,
    relevance_map,
    rng_for,
    sector_cells,
    top_mask,
)
from aurora_xai.perturbation.metrics import aopc_ratio, bootstrap_ratio
from aurora_xai.perturbation.relevance import masking_maps
from aurora_xai.perturbation.settings import Case, MaskFields, PerturbationSettings
from aurora_xai.regions import Region
from aurora_xai.sections import section_defaults

torch.set_num_threads(1)


def _perturbation(seed: int = 0, **values) -> PerturbationSettings:
    """The ``perturbation`` section at the schema's defaults, with ``values`` replaced."""
    return dataclasses.replace(PerturbationSettings.from_config(section_defaults("perturbation"), seed), **values)


# A 10-degree grid: 19 latitudes (90..-90), 36 longitudes (0..350).
NLAT, NLON = 19, 36
LAT = np.linspace(90, -90, NLAT)
LON = np.arange(NLON) * 10.0
SECTOR = Region("sector", 0.0, 80.0, 300.0, 60.0)  # crosses 0 E: 9 rows x 13 columns
BOX = Region("box", 30.0, 50.0, 0.0, 20.0)  # the only cells the toy model reads (3 x 3)
EVAL = Region("eval", 30.0, 70.0, 350.0, 40.0)


class BoxModel(nn.Module):
    """Aurora's ``Batch -> Batch`` interface; the +6 h msl is one number set by one box.

    ``y = sum(w * x_n**2)`` over both history steps of normalised msl and 2t, with weight
    1 in ``box`` and ``leak`` elsewhere; the predicted msl is ``y`` everywhere (in
    normalised units). Masking a cell to 0 (normalised) lowers ``y`` by its ``w x_n**2``.
    """

    patch_size = 1
    timestep = datetime.timedelta(hours=6)

    def __init__(self, box: np.ndarray, leak: float = 0.01) -> None:
        super().__init__()
        self.register_buffer("w", torch.where(torch.as_tensor(box), 1.0, leak).to(torch.float64))
        self.dummy = nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, batch):
        import aurora
        from aurora.normalisation import normalise_surf_var, unnormalise_surf_var

        y = 0.0
        for name in ("msl", "2t"):
            x = normalise_surf_var(batch.surf_vars[name].to(torch.float64), name)
            y = y + (x**2 * self.w).sum(dim=(-3, -2, -1))
        B = y.shape[0]
        H, W = self.w.shape
        out = unnormalise_surf_var((y + self.dummy)[:, None, None, None].expand(B, 1, H, W), "msl")
        return aurora.Batch(surf_vars={"msl": out}, static_vars={}, atmos_vars={}, metadata=batch.metadata)


@pytest.fixture(scope="module")
def grid_batch():
    return synthetic_batch(NLAT, NLON, seed=3, dtype=torch.float64)


@pytest.fixture(scope="module")
def box_model():
    return BoxModel(BOX.mask(LAT, LON))


@pytest.fixture(scope="module")
def box_case():
    return Case("toy", pd.Timestamp("2020-01-01 12:00"), "msl", None, EVAL, EVAL, SECTOR)


@pytest.fixture(scope="module")
def box_result(box_model, grid_batch, box_case):
    rel = compute_relevance(
        box_model, grid_batch, ForecastTarget("msl", None, EVAL), method="input_x_gradient", dtype=torch.float64
    )
    settings = _perturbation(
        fractions=(2.0, 5.0, 10.0),
        n_draws=200,
        seed=1,
        methods=("input_x_gradient", "random"),
        batch_size=64,
        n_boot=1000,
    )
    maps = masking_maps({"input_x_gradient": rel, "random": None}, (NLAT, NLON), settings)
    fill = normalisation_fill(grid_batch)
    return run_experiment(box_model, grid_batch, maps, box_case, settings, fill), maps


# --------------------------------------------------------------------------------------
# Masks.
# --------------------------------------------------------------------------------------


def test_n_cells_rounding():
    assert n_cells(720, 0.1) == 1  # 0.72 rounds to 1
    assert n_cells(720, 1) == 7
    assert n_cells(720, 10) == 72
    assert n_cells(10, 0.01) == 1  # at least one cell
    with pytest.raises(ValueError):
        n_cells(10, 0)


@pytest.mark.parametrize("region", [SECTOR, Region("plain", -40.0, 10.0, 100.0, 200.0)])
def test_masks_have_requested_size_and_lie_in_sector(region):
    sector = sector_cells(region, LAT, LON)
    if region is SECTOR:
        assert sector.sum() == 9 * 13
        assert sector[:, 0].any() and sector[:, -1].any()  # both sides of 0 E
    score = rng_for(5, "score").random((NLAT, NLON))
    for p in (1.0, 5.0, 10.0, 30.0):
        n = n_cells(int(sector.sum()), p)
        top = top_mask(score, sector, n)
        assert top.sum() == n and not (top & ~sector).any()
        assert score[top].min() >= score[sector & ~top].max()
        sc = random_scattered_masks(sector, n, 20, rng_for(0, "sc", p))
        assert (sc.sum(axis=(1, 2)) == n).all() and not (sc & ~sector).any()
        bl = random_blob_masks(sector, top, 20, rng_for(0, "bl", p))
        assert (bl.sum(axis=(1, 2)) == n).all() and not (bl & ~sector).any()


def test_cropped_rows_are_excluded():
    dropped = np.zeros(NLAT, dtype=bool)
    dropped[-1] = True
    cells = sector_cells(Region("south", -90.0, -70.0, 0.0, 360.0), LAT, LON, exclude_rows=dropped)
    assert not cells[-1].any() and cells[-3:-1].all()


def test_connected_components_wrap_in_longitude():
    m = np.zeros((5, 8), dtype=bool)
    m[2, 0] = m[2, -1] = True  # neighbours across the seam
    m[0, 3] = m[1, 4] = True  # diagonal only: two components under 4-connectivity
    labels, sizes = connected_components(m, wrap_lon=True)
    assert sorted(sizes) == [1, 1, 2]
    assert labels[2, 0] == labels[2, -1] != 0
    _, sizes_nowrap = connected_components(m, wrap_lon=False)
    assert sorted(sizes_nowrap) == [1, 1, 1, 1]


def test_blob_masks_are_contiguous_and_match_the_components():
    sector = sector_cells(SECTOR, LAT, LON)
    template = np.zeros_like(sector)
    template[2:5, 0:2] = True  # 6 cells
    template[2:4, -1] = True  # joined to the first across 0 E: 8 cells
    template[7, 3:6] = True  # 3 cells
    template[5, 5] = True  # 1 cell
    _, tsizes = connected_components(template)
    assert sorted(tsizes) == [1, 3, 8]
    blobs = random_blob_masks(sector, template, 50, rng_for(0, "blobs"))
    for b in blobs:
        _, sizes = connected_components(b)
        assert sorted(sizes) == sorted(tsizes)
        assert not (b & ~sector).any()
    # The blobs are spread over the sector, not copies of the template.
    assert (blobs.mean(axis=0)[sector] > 0).mean() > 0.8


def test_seeded_draws_reproduce_exactly():
    sector = sector_cells(SECTOR, LAT, LON)
    template = top_mask(rng_for(1, "t").random((NLAT, NLON)), sector, 10)
    a = random_scattered_masks(sector, 7, 30, rng_for(0, "scattered", 1.0))
    b = random_scattered_masks(sector, 7, 30, rng_for(0, "scattered", 1.0))
    c = random_scattered_masks(sector, 7, 30, rng_for(1, "scattered", 1.0))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    a = random_blob_masks(sector, template, 30, rng_for(0, "blobs", "lrp", 1.0))
    b = random_blob_masks(sector, template, 30, rng_for(0, "blobs", "lrp", 1.0))
    c = random_blob_masks(sector, template, 30, rng_for(0, "blobs", "ig", 1.0))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_relevance_map_sums_absolute_values(grid_batch, box_model):
    rel = compute_relevance(
        box_model, grid_batch, ForecastTarget("msl", None, EVAL), method="input_x_gradient", dtype=torch.float64
    )
    full = relevance_map(rel)
    expect = sum(
        np.abs(rel[v].values).sum(axis=tuple(range(rel[v].ndim - 2)))
        for v in rel.data_vars
        if not v.startswith("static_")
    )
    np.testing.assert_allclose(full, expect)
    only_now = relevance_map(rel, variables=["msl"], history=[0])
    np.testing.assert_allclose(only_now, np.abs(rel["msl"].sel(history=0.0).values))
    # The toy reads msl and 2t only: all other variables carry no relevance.
    np.testing.assert_allclose(relevance_map(rel, variables=["z", "u"], levels=[500]), 0.0)
    with pytest.raises(KeyError):
        relevance_map(rel, variables=["nope"])


# --------------------------------------------------------------------------------------
# Masked values.
# --------------------------------------------------------------------------------------


def test_normalised_zero_fill_equals_the_normalisation_location(grid_batch):
    from aurora.normalisation import locations, normalise_atmos_var, normalise_surf_var

    fill = normalisation_fill(grid_batch)
    mask = np.zeros((NLAT, NLON), dtype=bool)
    mask[3:6, 10:14] = True
    out = masked_batch(grid_batch, fill, mask[None])
    m = torch.as_tensor(mask)
    for k, x in out.surf_vars.items():
        assert torch.all(x[0, :, m] == locations[k])
        assert torch.equal(x[0, :, ~m], grid_batch.surf_vars[k][0, :, ~m])
        assert torch.all(normalise_surf_var(x, k)[0, :, m] == 0)
    levels = grid_batch.metadata.atmos_levels
    for k, x in out.atmos_vars.items():
        for il, lev in enumerate(levels):
            assert torch.all(x[0, :, il, m] == torch.tensor(locations[f"{k}_{lev}"], dtype=x.dtype))
        assert torch.all(normalise_atmos_var(x, k, levels)[0][..., m] == 0)
    # The model's own surface statistics take precedence.
    fill2 = normalisation_fill(grid_batch, {"msl": (100000.0, 1000.0)})
    assert torch.all(fill2.surf_vars["msl"] == 100000.0)


def test_masked_subset_of_variables_levels_and_history(grid_batch):
    fill = normalisation_fill(grid_batch)
    mask = np.zeros((NLAT, NLON), dtype=bool)
    mask[4, 4] = True
    fields = MaskFields(variables=("msl", "t"), levels=(500.0,), history=(0.0,))
    out = masked_batch(grid_batch, fill, np.stack([mask, np.zeros_like(mask)]), fields)
    assert out.surf_vars["msl"].shape[0] == 2 and out.metadata.time == grid_batch.metadata.time * 2
    assert out.static_vars["lsm"].shape == (NLAT, NLON)
    diff = out.surf_vars["msl"] != grid_batch.surf_vars["msl"]
    assert diff[0, 1, 4, 4] and diff.sum() == 1  # current step only, first mask only
    assert torch.equal(out.surf_vars["2t"], grid_batch.surf_vars["2t"].expand(2, -1, -1, -1))
    dt = out.atmos_vars["t"] != grid_batch.atmos_vars["t"]
    il = list(grid_batch.metadata.atmos_levels).index(500)
    assert dt[0, 1, il, 4, 4] and dt.sum() == 1
    with pytest.raises(ValueError):
        masked_batch(grid_batch, fill, mask, MaskFields(variables=None, levels=None, history=(-3.0,)))


def test_smoothed_fill_keeps_constants_and_wraps(grid_batch):
    const = dataclasses.replace(
        grid_batch, surf_vars={k: torch.full_like(v, 7.0) for k, v in grid_batch.surf_vars.items()}
    )
    for kind in ("gaussian", "box"):
        sm = smoothed_fill(const, kind, 20.0)
        np.testing.assert_allclose(sm.surf_vars["msl"].numpy(), 7.0)
    spike = torch.zeros_like(grid_batch.surf_vars["msl"])
    spike[..., 9, 0] = 1.0
    b = dataclasses.replace(grid_batch, surf_vars={**grid_batch.surf_vars, "msl": spike})
    sm = smoothed_fill(b, "gaussian", 10.0).surf_vars["msl"][0, 0, 9]
    assert sm[-1] > 0.05 and torch.isclose(sm[-1], sm[1])  # symmetric across the seam
    np.testing.assert_allclose(float(smoothed_fill(b, "gaussian", 10.0).surf_vars["msl"].sum()), 2.0, rtol=1e-6)


def test_climatology_window_leap_years_and_case_year():
    times = pd.date_range("2004-01-01", "2005-12-31 18:00", freq="6h")
    t = pd.Timestamp("2005-03-10 06:00")
    sel = climatology_times(times, t, window_days=3)
    assert (sel.year == 2004).all() and (sel.hour == 6).all()
    # 2004 is a leap year: 29 Feb is skipped on the 365-day circle, so 7-13 March.
    assert [d.day for d in sel] == [7, 8, 9, 10, 11, 12, 13]
    one_year = times[times.year == 2005]
    sel1 = climatology_times(one_year, t, window_days=3)
    assert len(sel1) == 7 and t in sel1
    jan = climatology_times(one_year, pd.Timestamp("2005-01-01 06:00"), window_days=2)
    assert sorted(d.dayofyear for d in jan) == [1, 2, 3, 364, 365]  # wraps round the year


# --------------------------------------------------------------------------------------
# Metrics.
# --------------------------------------------------------------------------------------


def test_bootstrap_interval_brackets_the_ratio():
    rng = np.random.default_rng(0)
    for _ in range(5):
        rnd = rng.gamma(2.0, 1.0, size=50)
        ratio, lo, hi = bootstrap_ratio(3.0, rnd, rng_for(0, "b"), 2000)
        assert lo <= ratio <= hi and ratio == pytest.approx(3.0 / rnd.mean())
    rel = np.array([1.0, 2.0, 4.0])
    rnd = rng.gamma(2.0, 0.5, size=(3, 40))
    a_rel, a_rnd, ratio, lo, hi = aopc_ratio(rel, rnd, rng_for(0, "a"), 2000)
    assert a_rel == pytest.approx(7.0 / 3) and a_rnd == pytest.approx(rnd.mean())
    assert lo <= ratio <= hi
    # A zero baseline gives an infinite ratio and no interval.
    ratio, lo, hi = bootstrap_ratio(1.0, np.zeros(5), rng_for(0, "z"))
    assert np.isinf(ratio) and np.isnan(lo)


# --------------------------------------------------------------------------------------
# The experiment.
# --------------------------------------------------------------------------------------


def test_known_box_relevant_masks_degrade_far_more_than_random(box_result):
    res, maps = box_result
    t = res.table
    assert set(t["mask_kind"]) == {"scattered", "blobs"} and set(t["metric_reference"]) == {"clean"}
    # Input x gradient finds the box: its top cells are box cells.
    sector = sector_cells(SECTOR, LAT, LON)
    assert BOX.mask(LAT, LON)[top_mask(maps["input_x_gradient"], sector, 6)].all()
    ixg = t[t["method"] == "input_x_gradient"]
    for _, r in ixg.iterrows():
        assert r["ratio"] > 3 and r["ci_low"] > 1, r.to_dict()
        assert r["ci_low"] <= r["ratio"] <= r["ci_high"]
        assert r["p_exceed"] < 0.05
    # The random relevance map is no better than random masks at p = 10 % (12 cells).
    rnd = t[(t["method"] == "random") & (t["p"] == 10.0) & (t["mask_kind"] == "scattered")].iloc[0]
    assert rnd["p_exceed"] > 0.05
    assert (t["n_cells"].isin([n_cells(117, p) for p in (2.0, 5.0, 10.0)])).all()
    aopc = res.aopc.set_index(["method", "mask_kind"])
    assert aopc.loc[("input_x_gradient", "scattered"), "ci_low"] > 1
    rows = headline(res, method="input_x_gradient", p=2.0)
    names = [r["metric"] for r in rows]
    assert names[:3] == ["perturbation_ratio_p2", "perturbation_p_exceed_p2", "perturbation_ratio_p2_blobs"]
    assert "perturbation_aopc_random" in names and "perturbation_aopc_ratio_input_x_gradient" in names
    assert res.draws["top_mask"].sum(("latitude", "longitude")).values.tolist()[0] == t["n_cells"].unique().tolist()


def test_experiment_reproduces_exactly(box_model, grid_batch, box_case, box_result):
    res, maps = box_result
    settings = _perturbation(
        fractions=(2.0, 5.0, 10.0),
        n_draws=200,
        seed=1,
        methods=("input_x_gradient", "random"),
        batch_size=7,
        n_boot=1000,
    )
    again = run_experiment(box_model, grid_batch, maps, box_case, settings, normalisation_fill(grid_batch))
    pd.testing.assert_frame_equal(res.table, again.table)  # batch size does not matter either


def test_truth_reference_rows(box_model, grid_batch, box_case):
    settings = _perturbation(
        fractions=(5.0,), n_draws=5, seed=0, methods=("random",), random_kinds=("scattered",), n_boot=100
    )
    maps = masking_maps({"random": None}, (NLAT, NLON), settings)
    truth = np.full((NLAT, NLON), 101325.0)
    res = run_experiment(box_model, grid_batch, maps, box_case, settings, normalisation_fill(grid_batch), truth)
    assert set(res.table["metric_reference"]) == {"clean", "truth"}
    tr = res.table[res.table["metric_reference"] == "truth"].iloc[0]
    assert tr["mse_clean"] > 0 and tr["units"] == "(hPa)^2"


@pytest.fixture(scope="module")
def tiny_aurora():
    return build_model(ModelSpec.from_schema(name="tiny", seed=0))


def test_batched_path_equals_one_at_a_time(tiny_aurora):
    batch = synthetic_batch(17, 32, seed=1, dtype=torch.float32)
    sector = sector_cells(Region("s", -40.0, 60.0, 300.0, 90.0), batch.metadata.lat.numpy(), batch.metadata.lon.numpy())
    masks = random_scattered_masks(sector, 12, 5, rng_for(0, "bench"))
    fill = normalisation_fill(batch, tiny_aurora.surf_stats)
    one = masked_fields(tiny_aurora, batch, fill, masks, "msl", batch_size=1)
    many = masked_fields(tiny_aurora, batch, fill, masks, "msl", batch_size=5)
    assert one.shape == (5, 16, 32)
    torch.testing.assert_close(many, one, rtol=1e-4, atol=1e-4)  # hPa
    atm = masked_fields(tiny_aurora, batch, fill, masks, "t", level=500, batch_size=3)
    assert atm.shape == (5, 16, 32)
    clean = masked_fields(tiny_aurora, batch, fill, np.zeros((1, 17, 32), bool), "msl", batch_size=1)
    assert (one - clean).abs().amax() > 0  # the masks change the forecast
    bench = benchmark_batched_masks(tiny_aurora, batch, masks, batch_size=5, repeats=1)
    assert bench["n_masks"] == 5 and bench["masks_per_s_batched"] > 0 and bench["masks_per_s_single"] > 0
    assert bench["speedup"] == pytest.approx(bench["masks_per_s_batched"] / bench["masks_per_s_single"])


def test_degradation_figure(box_result, tmp_path):
    from aurora_xai.io import save_figure
    from aurora_xai.perturbation.figures import plot_degradation_curves

    res, _ = box_result
    fig = plot_degradation_curves(res.table, title="toy", variable_label="msl", region_label="eval")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and "%" in ax.get_xlabel() and "hPa" in ax.get_ylabel()
    assert len(fig.axes) == 2
    save_figure(fig, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_check_perturbation_config():
    from aurora_xai.config import ConfigError
    from aurora_xai.settings import Settings, load_config

    case = {
        "time": "1987-10-16T06:00",
        "variable": "msl",
        "target_region": "europe",
        "eval_region": "europe",
        "sector": "europe",
    }

    def check(perturbation, **unvalidated):
        cfg = load_config(
            {
                "data": {"source": "weatherbench2", "path": "x"},
                "regions": {"europe": {"lat_min": 30, "lat_max": 72, "lon_min": 348, "lon_max": 45}},
                "perturbation": perturbation,
            }
        )
        cfg["perturbation"].update(unvalidated)  # values the schema would have refused first
        check_perturbation_config(Settings(cfg))

    check({"cases": {"c": case}})
    with pytest.raises(ConfigError, match="perturbation"):
        check({"cases": {"c": case}}, fractions=[0, 1])
    with pytest.raises(ConfigError, match="atlantis"):
        check({"cases": {"c": {**case, "sector": "atlantis"}}})
    with pytest.raises(ConfigError, match="surface"):
        check({"cases": {"c": {**case, "variable": "t"}}})
    with pytest.raises(ConfigError, match="headline_case"):
        check({"cases": {"c": case}, "headline_case": "d"})


def test_lrp_from_the_rule_must_be_the_experiments_lrp():
    """perturbation.lrp_source: rule reuses the compute_relevance rule's relevance only
    where it is the LRP the experiment computes; otherwise the config check names the keys."""
    from aurora_xai.config import ConfigError
    from aurora_xai.settings import Settings

    def check(**overlay):
        cfg = preset("study", overlay)
        check_perturbation_config(Settings(cfg))
        return cfg

    assert check()["perturbation"]["lrp_source"] == "rule"  # the study preset reuses it
    study = Settings(check())
    assert lrp_rule_differences(study, "great_storm_1987", study.perturbation_cases["great_storm_1987"]) == []
    bad = {
        "attribution.epsilon = 0.1 but perturbation.epsilon = 0.25": {"attribution": {"epsilon": 0.1}},
        "attribution.attention_rule = 'attnlrp' but perturbation.attention_rule = 'cp'": {
            "attribution": {"attention_rule": "attnlrp"}
        },
        "attribution.target_region = 'box' (latitude 40 to 60, longitude 345 to 15) but "
        "perturbation.cases.great_storm_1987.target_region = 'europe' (latitude 30 to 72": {
            "attribution": {"target_region": "box"}
        },
        "attribution.latent_layer = 'encoder' but perturbation.latent_layer = 'backbone'": {
            "attribution": {"latent_layer": "encoder"}
        },
        "attribution.target = 'forecast' but perturbation.relevance_target = 'latent'": {
            "attribution": {"target": "forecast"}
        },
        "storms.great_storm_1987.case_time = 1987-10-16 00:00 but perturbation.cases.great_storm_1987.time = "
        "1987-10-16 06:00": {"storms": {"great_storm_1987": {"case_time": "1987-10-16T00:00"}}},
        "attribution.method = 'integrated_gradients' but perturbation.methods = 'lrp'": {
            "attribution": {"method": "integrated_gradients"}
        },
        "'great_storm_1987' is not among attribution.cases": {"attribution": {"cases": ["katrina_2005"]}},
    }
    for message, overlay in bad.items():
        with pytest.raises(ConfigError, match=re.escape(message)):
            check(**overlay)
        check(**overlay, perturbation={"lrp_source": "compute"})  # computed in the rule: no constraint
    # regions are compared by their bounds: a region named 'box' is not the storm's box
    box = {"lat_min": 30, "lat_max": 72, "lon_min": 348, "lon_max": 45}
    with pytest.raises(ConfigError, match=re.escape("target_region = 'box' (latitude 40 to 60")):
        check(
            regions={"box": box},
            attribution={"target_region": "box"},
            perturbation={"cases": {"great_storm_1987": {"target_region": "box"}}},
        )
    check(regions={"europe_copy": box}, perturbation={"cases": {"great_storm_1987": {"target_region": "europe_copy"}}})
    # times are compared in UTC: the same instant written with an offset is the same time
    check(perturbation={"cases": {"great_storm_1987": {"time": "1987-10-16T07:00+01:00"}}})
    check(perturbation={"cases": {"great_storm_1987": {"time": "1987-10-16T06:00Z"}}})
    # forecast targets compare the variable and level
    forecast = {"attribution": {"target": "forecast"}, "perturbation": {"relevance_target": "forecast"}}
    check(**forecast)
    with pytest.raises(ConfigError, match=re.escape("attribution.target_variable = '2t' but perturbation.cases")):
        check(
            attribution={"target": "forecast", "target_variable": "2t"}, perturbation={"relevance_target": "forecast"}
        )


def test_masked_history_steps_follow_the_batch_interval(box_model, grid_batch, box_case):
    """With ``dates.history_hours`` 12 (allowed as an experiment), ``masked.history: [-12]``
    is the batch's oldest step; with the model's 6 h step it is no step of the batch."""
    from aurora_xai.perturbation.forward import history_step_hours

    assert history_step_hours(box_model, None) == 6.0 and history_step_hours(box_model, 12.0) == 12.0
    settings = _perturbation(
        fractions=(5.0,),
        n_draws=3,
        seed=0,
        methods=("random",),
        random_kinds=("scattered",),
        n_boot=10,
        masked=MaskFields(variables=None, levels=None, history=(-12.0,)),
    )
    maps = masking_maps({"random": None}, (NLAT, NLON), settings)
    fill = normalisation_fill(grid_batch)
    with pytest.raises(ValueError, match="history step -12.0 h is not one of the batch's steps"):
        run_experiment(box_model, grid_batch, maps, box_case, settings, fill)
    res = run_experiment(box_model, grid_batch, maps, box_case, settings, fill, history_hours=12.0)
    oldest = run_experiment(
        box_model,
        grid_batch,
        maps,
        box_case,
        dataclasses.replace(settings, masked=MaskFields(variables=None, levels=None, history=(-6.0,))),
        fill,
    )
    pd.testing.assert_frame_equal(res.table, oldest.table)  # the same step, named in the batch's own hours
