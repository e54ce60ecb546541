"""The feature atlas (aurora_xai.features.atlas) and the synthetic store's planted structures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from aurora_xai.data.synthetic import (
    PLANTED_STRUCTURES,
    SyntheticSpec,
    jet_latitudes,
    planted_structures,
)
from aurora_xai.regions import regions_from_config

torch = pytest.importorskip("torch")

from aurora_xai.features.atlas import (  # noqa: E402
    atlas_dataset,
    describe_feature,
    encode_tokens,
    peak_season,
    planted_match,
    top_features,
)
from aurora_xai.features.sae import SAEConfig, TopKSAE, array_batches, train_sae  # noqa: E402
from aurora_xai.features.tokens import TokenWriter, token_coords  # noqa: E402

REGIONS = regions_from_config(
    {
        "us": {"lat_min": 24, "lat_max": 50, "lon_min": 235, "lon_max": 295},
        "europe": {"lat_min": 30, "lat_max": 72, "lon_min": 348, "lon_max": 45},
        "north_atlantic": {"lat_min": 20, "lat_max": 80, "lon_min": 300, "lon_max": 45},
    }
)
LAT = np.array([75.0, 45.0, 15.0, -15.0, -45.0, -75.0])
LON = np.arange(12) * 30.0 + 15.0  # 15 .. 345
D = 8
PLANTED_LEVEL = 2


def _planted_setup(tmp_path, n_stores: int = 2):
    """Tokens in which direction e0 is added, with amplitude 3, on latent level 2 in the
    North Atlantic (45N, 315-345E) on every fifth January/February/December date; small
    noise elsewhere. Written to ``n_stores`` stores (shards) of consecutive dates."""
    dates = pd.date_range("2005-01-01T06", "2005-12-31T06", freq="D")
    planted_dates = dates[(dates.month.isin([1, 2, 12])) & (np.arange(len(dates)) % 5 == 0)]
    level, lat, lon = token_coords((4, len(LAT), len(LON)), LAT, LON)
    in_box = (level == PLANTED_LEVEL) & (lat == 45.0) & np.isin(lon, [315.0, 345.0])
    rng = np.random.default_rng(0)
    paths = []
    for part in np.array_split(np.arange(len(dates)), n_stores):
        path = tmp_path / f"shard{len(paths)}.zarr"
        with TokenWriter(path, D, chunk_tokens=500) as w:
            for i in part:
                x = 0.05 * rng.standard_normal((len(level), D)).astype(np.float32)
                x[:, 1:] += 0.5  # a constant offset on the other channels
                if dates[i] in planted_dates:
                    x[in_box, 0] += 3.0
                w.append(x, dates[i], level, lat, lon)
        paths.append(path)
    labels = pd.DataFrame(
        {
            "date": [f"{t:%Y-%m-%d}" for t in planted_dates[:10]] + [f"{t:%Y-%m-%d}" for t in dates[150:160]],
            "label": ["storm"] * 10 + ["calm"] * 10,
        }
    )
    probe = xr.DataArray(
        np.stack([dates.isin(planted_dates).astype(float), rng.standard_normal(len(dates))], axis=1),
        dims=("date", "quantity"),
        coords={"date": dates.values, "quantity": ["planted_amp", "noise"]},
    )
    return dates, planted_dates, paths, labels, probe, in_box


def _identity_sae(k: int = 1) -> TopKSAE:
    """An SAE whose latent i reads channel i (encoder and decoder the identity, no biases):
    latent 0 fires on the planted direction."""
    sae = TopKSAE(D, D, k)
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(D))
        sae.decoder.copy_(torch.eye(D))
        sae.b_enc.zero_()
        sae.b_pre.copy_(torch.tensor([0.0] + [0.5] * (D - 1)))
    return sae


def _box_field(planted_dates):
    def fields(times, lat, lon):
        lat2, lon2 = np.meshgrid(lat, lon, indexing="ij")
        box = (lat2 == 45.0) & np.isin(lon2, [315.0, 345.0])
        on = pd.DatetimeIndex(times).isin(planted_dates)
        return {"storm": (on[:, None, None] & box[None]).astype(float), "season": np.zeros((len(times),) + box.shape)}

    return fields


def test_atlas_finds_a_planted_feature(tmp_path):
    dates, planted_dates, paths, labels, probe, _ = _planted_setup(tmp_path)
    sums = encode_tokens(_identity_sae(), paths, batch_size=777, fields=_box_field(planted_dates))
    assert sums.n_tokens == len(dates) * 4 * len(LAT) * len(LON)
    assert sums.map_factor == 1
    ds = atlas_dataset(sums, REGIONS, labels=labels, probes=probe, top_dates=5)
    f0 = ds.sel(feature=0)
    # top dates: all planted
    assert set(pd.DatetimeIndex(f0["top_date"].values)) <= set(planted_dates)
    # map: peak at the planted level and inside the North Atlantic box
    assert int(f0["peak_level"]) == PLANTED_LEVEL
    m = f0["map"].sel(latent_level=PLANTED_LEVEL)
    peak = m.where(m == m.max(), drop=True)
    assert float(peak.latitude[0]) == 45.0 and float(peak.longitude[0]) in (315.0, 345.0)
    # season, storm and probe correlations
    assert peak_season(f0["seasonal"].values) == "DJF"
    assert float(f0["storm_corr"]) > 0.9
    assert float(f0["probe_corr"].sel(quantity="planted_amp")) > 0.9
    assert abs(float(f0["probe_corr"].sel(quantity="noise"))) < 0.3
    desc = str(f0["description"].values)
    assert desc.startswith("winter, North Atlantic, latent level 2, fires on storm days"), desc
    assert "follows planted_amp" in desc
    # the per-date activation is float32 and the date means of the planted dates exceed the rest
    assert ds["date_activation"].dtype == np.float32
    on = ds["date_activation"].sel(feature=0, date=planted_dates.values)
    assert float(on.min()) > float(ds["date_activation"].sel(feature=0).drop_sel(date=planted_dates.values).max())
    # planted match: the storm field's best feature is 0 (the field is 1 at all four
    # levels of the box, the feature fires on one: r about 1/2)
    match = planted_match(ds["field_corr"].values, list(ds["structure"].values))
    row = match.set_index("structure").loc["storm"]
    assert row["feature"] == 0 and 0.4 < row["corr"] < 0.6
    assert np.nanmax(ds["field_corr"].sel(structure="storm").values[1:]) < 0.05
    assert np.isnan(match.set_index("structure").loc["season", "corr"])  # a constant field: no correlation
    assert top_features(ds, 1)[0] == 0


def test_atlas_sums_do_not_depend_on_batches_or_shards(tmp_path):
    _, planted_dates, paths, labels, probe, _ = _planted_setup(tmp_path / "a", n_stores=1)
    _, _, paths3, _, _, _ = _planted_setup(tmp_path / "b", n_stores=3)
    a = encode_tokens(_identity_sae(2), paths, batch_size=4096, fields=_box_field(planted_dates))
    b = encode_tokens(_identity_sae(2), paths3, batch_size=333, fields=_box_field(planted_dates))
    np.testing.assert_allclose(a.date_sum, b.date_sum, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(a.map_sum, b.map_sum, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(a.field_corr(), b.field_corr(), rtol=1e-8, equal_nan=True)
    np.testing.assert_array_equal(a.fired, b.fired)


def test_atlas_map_pools_positions_within_its_budget(tmp_path):
    _, _, paths, _, _, _ = _planted_setup(tmp_path, n_stores=1)
    sums = encode_tokens(_identity_sae(), paths, max_map_values=4 * 3 * 6 * D)
    assert sums.map_factor == 2 and sums.map_sum.shape == (4, 3, 6, D)
    assert sums.map_tokens.sum() == sums.n_tokens
    np.testing.assert_allclose(sums.map_sum.sum((0, 1, 2)), sums.sum_a)
    np.testing.assert_allclose(sums.date_sum.sum(0), sums.sum_a)


def test_field_correlation_matches_numpy(tmp_path):
    """The streamed token correlation equals np.corrcoef over the dense activations."""
    _, planted_dates, paths, _, _, _ = _planted_setup(tmp_path, n_stores=1)
    fields = _box_field(planted_dates)
    sae = TopKSAE(D, 16, 3, seed=4)
    sums = encode_tokens(sae, paths, fields=fields)
    import zarr

    g = zarr.open_group(str(paths[0]), mode="r")
    x = torch.from_numpy(np.asarray(g["tokens"][:]))
    with torch.no_grad():
        dense = sae.dense_code(*sae.encode(x)).numpy().astype(np.float64)
    t = pd.to_datetime(np.asarray(g["date"][:]), unit="s")
    s = (pd.DatetimeIndex(t).isin(planted_dates) & (np.asarray(g["latitude"][:]) == 45.0)) & np.isin(
        np.asarray(g["longitude"][:]), [315.0, 345.0]
    )
    expected = np.array([np.corrcoef(dense[:, f], s.astype(float))[0, 1] for f in range(16)])
    got = sums.field_corr()[0]
    ok = np.isfinite(expected)
    np.testing.assert_allclose(got[ok], expected[ok], atol=1e-8)


def test_trained_sae_feature_is_found(tmp_path):
    """An SAE trained on the planted tokens has a feature whose decoder is the planted
    direction; the atlas's storm match and description find that feature."""
    dates, planted_dates, paths, labels, probe, _ = _planted_setup(tmp_path, n_stores=1)
    import zarr

    x = np.asarray(zarr.open_group(str(paths[0]), mode="r")["tokens"][:])
    result = train_sae(array_batches(x, 2048, seed=0), D, SAEConfig(expansion=2, k=2, epochs=2, seed=0))
    sae = result.sae
    sums = encode_tokens(sae, paths, fields=_box_field(planted_dates))
    ds = atlas_dataset(sums, REGIONS, labels=labels, probes=probe)
    match = planted_match(ds["field_corr"].values, list(ds["structure"].values)).set_index("structure")
    best = int(match.loc["storm", "feature"])
    assert match.loc["storm", "corr"] > 0.4
    assert sae.decoder.detach().numpy()[best, 0] > 0.7  # its decoder direction is the planted one
    assert str(ds["description"].sel(feature=best).values).startswith(
        "winter, North Atlantic, latent level 2, fires on storm days"
    )
    # no feature far from the planted direction is said to fire on storm days
    far = np.abs(sae.decoder.detach().numpy()[:, 0]) < 0.5
    assert not any("storm days" in str(d) for d in ds["description"].values[far])


def test_description_words():
    lat, lon = LAT, LON
    maps = np.zeros((4, len(LAT), len(LON)))
    maps[1, 4, 4] = 1.0  # 45S, 135E (southern mid-latitudes), level 1
    profile = np.full(12, 0.1)
    profile[[5, 6, 7]] = 1.0  # JJA: the southern winter
    assert describe_feature(profile, maps, lat, lon, float("nan"), {}, REGIONS, 0.1) == (
        "winter, southern mid-latitudes, latent level 1"
    )
    flat = np.ones((4, len(LAT), len(LON)))
    assert describe_feature(np.ones(12), flat, lat, lon, -0.5, {"t850": 0.7}, REGIONS, 0.5) == (
        "all year, widespread, latent level 0, fires on calm days, follows t850 (r 0.70)"
    )
    assert describe_feature(profile, maps, lat, lon, 0.9, {}, REGIONS, 0.0) == "never fires"


# --- the synthetic store's planted structures ----------------------------------------------


def _default_spec() -> SyntheticSpec:
    from aurora_xai.settings import Settings, load_config

    return Settings(load_config("config/config.yaml")).synthetic


def test_planted_jet_peaks_at_the_generators_jet_latitude():
    spec = SyntheticSpec.from_schema(periods=(("2005-01-15", "2005-01-16"),))
    times = pd.DatetimeIndex(["2005-01-15T06", "2005-07-15T06"])
    lat = np.arange(-89.5, 90.0, 0.5)
    fields = planted_structures(spec, times, lat, np.array([0.0, 90.0]))
    assert set(fields) == set(PLANTED_STRUCTURES)
    jet_nh, jet_sh = jet_latitudes(times)
    for i in range(len(times)):
        jet = fields["jet"][i, :, 0]
        north = lat > 0
        assert abs(lat[north][np.argmax(jet[north])] - jet_nh[i]) <= 0.5
        assert abs(lat[~north][np.argmax(jet[~north])] - jet_sh[i]) <= 0.5
    assert jet_nh[0] == pytest.approx(35.0, abs=0.1) and jet_nh[1] == pytest.approx(50.0, abs=0.1)
    # the season field: the winter index of the point's hemisphere
    season = fields["season"]
    assert season[0, lat > 0, 0].min() > 0.99 and season[0, lat < 0, 0].max() < 0.01
    assert season[1, lat > 0, 0].max() < 0.01


def test_planted_storm_is_one_at_a_catalogue_storms_centre():
    spec = _default_spec()
    storm = next(s for s in spec.storms if s.name == "great_storm_1987")
    t = pd.Timestamp("1987-10-16T06:00")
    st = storm.state_at(t)
    fields = planted_structures(spec, [t], np.array([st.lat]), np.array([st.lon % 360]))
    assert fields["storm"][0, 0, 0] == pytest.approx(1.0)
    far = planted_structures(spec, [t], np.array([st.lat]), np.array([(st.lon + 180) % 360]))
    assert far["storm"][0, 0, 0] < 1.0
    # the store's sea-level pressure is lowest where the storm field is largest, near the storm
    from aurora_xai.data.synthetic import background_fields

    lat, lon = spec.latitudes, spec.longitudes
    msl = background_fields(spec, pd.DatetimeIndex([t]))["mean_sea_level_pressure"][0]
    field = planted_structures(spec, [t], lat, lon)["storm"][0]
    near = (np.abs(lat[:, None] - st.lat) < 10) & (np.abs(((lon[None] - st.lon % 360) + 180) % 360 - 180) < 10)
    iy, ix = np.unravel_index(np.argmin(np.where(near, msl, np.inf)), msl.shape)
    assert field[iy, ix] > 0.8


def test_atlas_with_control_tables_headline_and_figures(tmp_path):
    """feature_atlas with its control, the tables, headline rows and figures; and the
    not-applicable rows of a store without planted structures."""
    from aurora_xai.features.atlas import atlas_table, feature_atlas, planted_headline, planted_table
    from aurora_xai.features.atlas_figures import plot_feature_atlas, plot_planted_match
    from aurora_xai.tables import headline_rows

    _, planted_dates, paths, labels, probe, _ = _planted_setup(tmp_path, n_stores=1)
    control = TopKSAE(D, 2 * D, 1, seed=3)
    ds = feature_atlas(
        _identity_sae(), paths, REGIONS, labels, probe, 3, fields=_box_field(planted_dates),
        control_sae=control, control_stores=paths,
    )  # fmt: skip
    assert list(ds["model"].values) == ["trained", "random"]
    assert int(ds["planted_feature"].sel(model="trained", structure="storm")) == 0
    assert float(ds["planted_corr"].sel(model="trained", structure="storm")) > float(
        ds["planted_corr"].sel(model="random", structure="storm")
    )
    none = feature_atlas(_identity_sae(), paths, REGIONS, labels, probe, 3, not_applicable="no planted fields here")
    table = planted_table({"backbone": ds, "encoder": none}, ["storm", "season"])
    assert (table[table["tap"] == "encoder"]["note"] == "no planted fields here").all()
    rows = headline_rows(planted_headline(table, "backbone", ["storm", "season"]))
    storm = rows.set_index("metric").loc["sae_planted_match_storm"]
    assert storm["value"] > 0.4 and storm["n_unit"] == "held-out tokens"
    assert storm["ci_low"] < storm["value"] < storm["ci_high"]
    # selected on the training dates, scored on the held-out weeks (every 5th ISO week)
    assert ds.attrs["planted_weeks"] == 10 and 60 <= ds.attrs["planted_dates"] <= 75
    assert storm["n"] == ds.attrs["planted_dates"] * len(LAT) * len(LON) * 4
    excess = rows.set_index("metric").loc["sae_planted_match_storm_excess"]
    assert excess["ci_low"] > 0  # the identity SAE's feature 0 beats a random dictionary's best
    assert {"sae_planted_match_storm_random", "sae_planted_match_season_excess"} <= set(rows["metric"])
    na = headline_rows(planted_headline(table, "encoder", ["storm"]))
    assert na["value"].isna().all() and (na["note"] == "no planted fields here").all()
    top = atlas_table(ds, "backbone", 2)
    assert list(top["feature"])[0] == 0 and top["description"].iloc[0].startswith("winter, North Atlantic")
    assert len(top["top_dates"].iloc[0].split(";")) == 3
    import matplotlib.pyplot as plt

    plt.close(plot_feature_atlas(ds, top["feature"].to_list(), "backbone"))
    plt.close(plot_planted_match(table))


def _sums_from_tokens(act: np.ndarray, field: np.ndarray, dates: pd.DatetimeIndex):
    """FeatureSums of activations ``act (D, m, n)`` and one field ``field (D, m)``."""
    from aurora_xai.features.atlas import FeatureSums

    return FeatureSums.from_activations(act, {"storm": field}, dates)


def _ar1_days(rng, n_dates: int, m: int, phi: float = 0.8) -> np.ndarray:
    """``(n_dates, m)`` AR(1) over days (phi) of unit variance, independent across tokens."""
    out = np.empty((n_dates, m))
    out[0] = rng.standard_normal(m)
    for t in range(1, n_dates):
        out[t] = phi * out[t - 1] + np.sqrt(1 - phi**2) * rng.standard_normal(m)
    return out


def test_heldout_planted_match_is_unbiased_under_the_null():
    """No feature relates to the field (both persist from day to day, AR(1) 0.8): the
    feature selected as the best on the training dates has an upward-biased r there (a
    maximum over 60 features) and about 0 on the held-out weeks when the selection keeps
    7 days away from them; selected on the adjacent days too (no gap), its chance
    correlation carries into the held-out weeks. The intervals cover 0 about as often as
    their level says."""
    from aurora_xai.features.atlas import heldout_planted_match
    from aurora_xai.features.split import holdout_dates, holdout_weeks

    dates = pd.date_range("2005-01-01", periods=365, freq="D")
    ho, weeks = holdout_dates(dates, 5), holdout_weeks(dates)
    out = {0: [], 7: []}
    for i in range(40):
        rng = np.random.default_rng(i)
        field = _ar1_days(rng, 365, 6)
        trained = _sums_from_tokens(_ar1_days(rng, 365, 6 * 60).reshape(365, 6, 60), field, dates)
        control = _sums_from_tokens(_ar1_days(rng, 365, 6 * 60).reshape(365, 6, 60), field, dates)
        for gap in out:
            t = heldout_planted_match(trained, control, ho, weeks, n_boot=200, seed=i, gap_days=gap)
            out[gap].append(t.set_index("model"))
    held = {g: np.array([t.loc["trained", "corr"] for t in ts]) for g, ts in out.items()}
    se = held[7].std() / np.sqrt(40)
    assert abs(held[7].mean()) < 2.5 * se  # measured: -0.003 (se 0.011)
    assert held[0].mean() > 0.03  # measured: 0.050 (se 0.009)
    selection = np.array([t.loc["trained", "corr_selection"] for t in out[7]])
    assert selection.mean() > held[7].mean() + 0.08  # the maximum of 60 null correlations
    for model in ("trained", "excess"):
        covered = np.mean([t.loc[model, "ci_low"] <= 0 <= t.loc[model, "ci_high"] for t in out[7]])
        assert covered >= 0.85, (model, covered)


def test_heldout_planted_match_recovers_a_planted_feature():
    """Feature 7 is 0.6 x field + noise (population r 0.6) in the trained SAE, nothing in the
    control: it is selected, its held-out interval covers 0.6, the excess's excludes 0."""
    from aurora_xai.features.atlas import PLANTED_COLUMNS, heldout_planted_match
    from aurora_xai.features.split import holdout_dates, holdout_weeks

    rng = np.random.default_rng(5)
    dates = pd.date_range("2005-01-01", periods=365, freq="D")
    field = _ar1_days(rng, 365, 20)
    act = _ar1_days(rng, 365, 20 * 30).reshape(365, 20, 30)
    act[:, :, 7] = 0.6 * field + 0.8 * act[:, :, 7]
    trained = _sums_from_tokens(act, field, dates)
    control = _sums_from_tokens(_ar1_days(rng, 365, 20 * 30).reshape(365, 20, 30), field, dates)
    t = heldout_planted_match(
        trained, control, holdout_dates(dates, 5), holdout_weeks(dates), n_boot=500, seed=0, gap_days=7
    ).set_index("model")
    assert sorted(t.reset_index().columns) == sorted(PLANTED_COLUMNS)
    assert t.loc["trained", "feature"] == 7 and t.loc["excess", "feature"] == -1
    assert t.loc["trained", "ci_low"] < 0.6 < t.loc["trained", "ci_high"]
    assert abs(t.loc["trained", "corr"] - 0.6) < 0.1
    assert t.loc["excess", "ci_low"] > 0.4
    assert t.loc["trained", "n_dates"] == holdout_dates(dates, 5).sum() and t.loc["trained", "n_weeks"] == 10
    # reproducible for a seed
    again = heldout_planted_match(
        trained, control, holdout_dates(dates, 5), holdout_weeks(dates), n_boot=500, seed=0, gap_days=7
    )
    pd.testing.assert_frame_equal(t, again.set_index("model"))


def test_heldout_planted_match_errors_and_missing_parts(tmp_path):
    from aurora_xai.features.atlas import heldout_planted_match
    from aurora_xai.features.split import holdout_dates, holdout_weeks

    rng = np.random.default_rng(0)
    dates = pd.date_range("2005-01-01", periods=40, freq="D")
    sums = _sums_from_tokens(rng.random((40, 3, 4)), rng.random((40, 3)), dates)
    ho, weeks = holdout_dates(dates, 5), holdout_weeks(dates)
    other = _sums_from_tokens(rng.random((39, 3, 4)), rng.random((39, 3)), dates[1:])
    with pytest.raises(ValueError, match="other dates"):
        heldout_planted_match(sums, other, ho, weeks)
    with pytest.raises(ValueError, match="one entry per date"):
        heldout_planted_match(sums, None, ho[1:], weeks[1:])
    _, _, paths, _, _, _ = _planted_setup(tmp_path, n_stores=1)
    with pytest.raises(ValueError, match="per-date field sums"):
        heldout_planted_match(encode_tokens(_identity_sae(), paths), None, np.zeros(365, bool), np.zeros(365))
    # no control: its rows and the excess are NaN; one held-out week (5 of 40 days): no interval
    t = heldout_planted_match(sums, None, ho, weeks, n_boot=50).set_index("model")
    assert np.isnan(t.loc["random", "corr"]) and np.isnan(t.loc["excess", "corr"])
    assert t.loc["trained", "n_weeks"] == 1 and np.isnan(t.loc["trained", "ci_low"])
    assert np.isfinite(t.loc["trained", "corr"])


def test_per_date_field_sums_add_up_to_the_totals(tmp_path):
    """encode_tokens' per-date field sums add up to its totals, with and without the
    per-position sums (the control's pass)."""
    _, planted_dates, paths, _, _, _ = _planted_setup(tmp_path, n_stores=2)
    sae = TopKSAE(D, 16, 3, seed=4)
    for where in (True, False):
        s = encode_tokens(sae, paths, batch_size=999, fields=_box_field(planted_dates), where=where)
        np.testing.assert_allclose(s.date_field_cross.sum(0), s.field_cross, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(s.date_sum.sum(0), s.sum_a, rtol=1e-10)
        np.testing.assert_allclose(s.date_sum2.sum(0), s.sum_a2, rtol=1e-10)
        np.testing.assert_allclose(s.date_field_sum.sum(0), s.field_sum, rtol=1e-10)
        np.testing.assert_allclose(s.date_field_sum2.sum(0), s.field_sum2, rtol=1e-10)
        assert s.date_field_cross.shape == (365, 2, 16)
        assert s.map_sum.shape[0] == (4 if where else 0)


def test_sums_from_activations_match_the_encoding_pass(tmp_path):
    """FeatureSums.from_activations gives encode_tokens' sums for the same activations."""
    from aurora_xai.features.atlas import FeatureSums

    _, planted_dates, paths, _, _, _ = _planted_setup(tmp_path, n_stores=1)
    sae = TopKSAE(D, 16, 3, seed=4)
    sums = encode_tokens(sae, paths, fields=_box_field(planted_dates))
    import zarr

    g = zarr.open_group(str(paths[0]), mode="r")
    with torch.no_grad():
        dense = sae.dense_code(*sae.encode(torch.from_numpy(np.asarray(g["tokens"][:])))).numpy()
    n_dates = len(sums.dates)
    lat, lon = np.asarray(g["latitude"][:]), np.asarray(g["longitude"][:])
    box = _box_field(planted_dates)(sums.dates, LAT, LON)
    rows = np.searchsorted(-LAT, -lat)
    cols = np.searchsorted(LON, lon)
    day = np.repeat(np.arange(n_dates), len(lat) // n_dates)
    fields = {k: v[day, rows, cols].reshape(n_dates, -1) for k, v in box.items()}
    ref = FeatureSums.from_activations(dense.reshape(n_dates, -1, 16), fields, sums.dates)
    for name in ("sum_a", "sum_a2", "date_sum", "date_sum2", "field_cross", "date_field_cross", "date_field_sum"):
        np.testing.assert_allclose(getattr(ref, name), getattr(sums, name), rtol=1e-5, atol=1e-4, err_msg=name)
    np.testing.assert_array_equal(ref.fired, sums.fired)
