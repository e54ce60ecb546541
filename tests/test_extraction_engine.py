"""The extraction engine: early stop at the tap, box pooling, device pooling, batches of
dates, several taps per forward pass, reader processes, shards with several taps, autocast.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from aurora_xai.attribution._testing import synthetic_batch
from aurora_xai.data.era5 import ERA5Source, open_source
from aurora_xai.data.synthetic import SyntheticSpec, synthetic_dataset
from aurora_xai.grid import lat_cell_edges
from aurora_xai.latents import pooling
from aurora_xai.latents.extract import extract_pooled, extract_taps
from aurora_xai.latents.geometry import patch_centres, patch_lat_edges, published_token_grid
from aurora_xai.latents.io import combine_shards, shard_taps, write_shard
from aurora_xai.latents.loading import sample_loader, stack_batches
from aurora_xai.latents.pooling import RegionPooler, pool_grid, region_box
from aurora_xai.latents.taps import TAPS, capture_latents, record_taps, tap_depth
from aurora_xai.model import MODEL_NAMES, TINY_ARCH, ModelSpec, build_model
from aurora_xai.regions import GLOBE, Region, regions_from_config
from aurora_xai.settings import EXECUTION_KEYS, Settings, load_config, select

torch.set_num_threads(1)

#: Regions that hold a token centre at every tap on a 3 degree grid (the bottleneck's
#: tokens are 48 degrees apart); "wrap" crosses the prime meridian.
BIG = regions_from_config(
    {
        "north": dict(lat_min=0, lat_max=90, lon_min=0, lon_max=360),
        "wrap": dict(lat_min=-60, lat_max=72, lon_min=300, lon_max=100),
    }
)
TIMES = pd.date_range("2005-01-02T06", periods=5, freq="D")


@pytest.fixture(scope="module")
def tiny():
    return build_model(ModelSpec.from_schema(name="tiny", seed=0))


@pytest.fixture(scope="module")
def source(small_store):
    return ERA5Source(str(small_store))


# --- stop at the tap ---------------------------------------------------------------------
def _count_calls(module: torch.nn.Module, counter: dict, name: str):
    counter[name] = 0

    def hook(*_):
        counter[name] += 1

    return module.register_forward_hook(hook)


def test_early_stop_gives_the_same_tokens_without_the_decoder(tiny):
    batch = synthetic_batch(17, 32, dtype=torch.float32)
    calls: dict[str, int] = {}
    handles = [_count_calls(tiny.decoder, calls, "decoder"), _count_calls(tiny.backbone, calls, "backbone")]
    try:
        for taps in [(t,) for t in TAPS] + [TAPS, ("encoder", "backbone.encoder.1")]:
            with torch.inference_mode():
                with record_taps(tiny, taps, stop=False) as rec:
                    full = rec(batch)
                assert calls["decoder"] == 1, taps
                with record_taps(tiny, taps, stop=True) as rec:
                    stopped = rec(batch)
            assert calls["decoder"] == 1, f"{taps}: the decoder ran after the deepest tap"
            if "backbone" not in taps:
                assert calls["backbone"] == 1, f"{taps}: the backbone finished after its deepest tap"
            for tap in taps:
                assert torch.equal(stopped[tap], full[tap]), tap
            # and the same as an ordinary forward pass records
            for tap in taps:
                with capture_latents(tiny, tap) as box, torch.inference_mode():
                    tiny(batch)
                assert torch.equal(box["tokens"], stopped[tap]), tap
            for name in calls:
                calls[name] = 0
    finally:
        for h in handles:
            h.remove()
    assert not any(m._forward_hooks for m in tiny.modules())


def test_record_taps_validates_and_orders_taps(tiny):
    assert [tap_depth(t) for t in TAPS] == [0, 1, 2, 3, 3, 4]
    with pytest.raises(ValueError, match="latents.taps: unknown tap 'decoder'"):
        with record_taps(tiny, ["backbone", "decoder"]):
            pass
    with pytest.raises(ValueError, match="no taps"):
        with record_taps(tiny, []):
            pass
    assert not any(m._forward_hooks for m in tiny.modules())


# --- box pooling against the dense reference -----------------------------------------------
def _dense_reference(values, lat, lon, regions, area_weighted, stats, lat_edges=None):
    """The previous pooling: the whole grid in float64, weighted by zeros outside each region."""
    from aurora_xai.grid import band_weights

    x = values.astype(np.float64)
    out = np.empty((len(regions), values.shape[0], len(stats), values.shape[-1]))
    for r, region in enumerate(regions.values()):
        mask = region.mask(lat, lon).astype(np.float64)
        if area_weighted:
            edges = lat_cell_edges(lat) if lat_edges is None else lat_edges
            mask = mask * band_weights(edges)[:, None]
        wts = mask / mask.sum()
        mean = np.einsum("hw,chwd->cd", wts, x)
        sq = np.einsum("hw,chwd->cd", wts, x * x)
        for s, name in enumerate(stats):
            out[r, :, s] = {"mean": mean, "std": np.sqrt(np.maximum(sq - mean * mean, 0.0)), "rms": np.sqrt(sq)}[name]
    return out


REGIONS = {
    "globe": GLOBE,
    "us": Region("us", 24, 50, 235, 295),
    "europe": Region("europe", 30, 72, 348, 45),  # across the prime meridian
    "south": Region("south", -90, -30, -60, 20),  # negative longitudes, across the meridian
}


@pytest.mark.parametrize("stage", [0, 1, 2])
@pytest.mark.parametrize("area_weighted", [True, False])
def test_box_pooling_equals_the_dense_reference(stage, area_weighted):
    lat, lon = np.linspace(90, -90, 61), np.arange(120) * 3.0
    lat_c, lon_c = patch_centres(lat, lon, stage=stage)
    edges = patch_lat_edges(lat, stage=stage)
    rng = np.random.default_rng(stage)
    values = (3.0 + rng.standard_normal((4, len(lat_c), len(lon_c), 5))).astype(np.float32)
    regions = REGIONS if stage < 2 else {"globe": GLOBE, "europe": Region("europe", 20, 72, 300, 60)}
    got = pool_grid(values, lat_c, lon_c, regions, area_weighted, lat_edges=edges)
    want = _dense_reference(values, lat_c, lon_c, regions, area_weighted, pooling.STATS, edges)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    # the published geometry's stacked rows (default edges)
    stacked, lat_stacked = published_token_grid(values, lat_c)
    got = pool_grid(stacked, lat_stacked, lon_c, regions, area_weighted)
    want = _dense_reference(stacked, lat_stacked, lon_c, regions, area_weighted, pooling.STATS)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


def test_pooling_reads_only_the_rows_and_columns_a_region_covers(monkeypatch):
    lat_c, lon_c = patch_centres(np.linspace(90, -90, 61), np.arange(120) * 3.0)
    europe = REGIONS["europe"]
    box = region_box(europe, lat_c, lon_c, True)
    cols = np.r_[tuple(np.arange(s.start, s.stop) for s in box.cols)]
    rows = np.r_[tuple(np.arange(s.start, s.stop) for s in box.rows)]
    assert len(box.cols) == 2 and box.cols[0].start == 0 and box.cols[-1].stop == len(lon_c)  # the wrap
    np.testing.assert_array_equal(np.flatnonzero(europe.lon_mask(lon_c)), cols)
    np.testing.assert_array_equal(np.flatnonzero(europe.lat_mask(lat_c)), rows)
    values = np.full((4, len(lat_c), len(lon_c), 3), np.nan, dtype=np.float32)  # NaN outside the box
    values[:, rows[:, None], cols[None, :]] = 2.0
    out = pool_grid(values, lat_c, lon_c, {"europe": europe})
    np.testing.assert_allclose(out[0, :, 0], 2.0)  # the mean
    np.testing.assert_allclose(out[0, :, 1], 0.0, atol=1e-6)  # the standard deviation
    # in chunks of one token row at a time: the same numbers
    monkeypatch.setattr(pooling, "CHUNK_ELEMENTS", 1)
    np.testing.assert_allclose(pool_grid(values, lat_c, lon_c, {"europe": europe}), out, rtol=1e-13)


# --- pooling on the device ----------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_device_pooling_equals_the_numpy_reference(dtype, monkeypatch):
    lat, lon = np.linspace(90, -90, 61), np.arange(120) * 3.0
    lat_c, lon_c = patch_centres(lat, lon, stage=1)
    edges = patch_lat_edges(lat, stage=1)
    g = torch.Generator().manual_seed(0)
    tokens = (2.0 + torch.randn((3, 4, len(lat_c), len(lon_c), 6), generator=g)).to(dtype)
    boxes = [region_box(r, lat_c, lon_c, True, edges) for r in REGIONS.values()]
    stats = ("rms", "mean", "std")
    pooler = RegionPooler(boxes, stats, device="cpu")
    got = pooler(tokens)
    assert got.dtype == torch.float64 and got.shape == (3, len(REGIONS), 4, 3, 6)
    arr = tokens.to(torch.float64).numpy()
    for b in range(3):
        want = pool_grid(arr[b], lat_c, lon_c, REGIONS, True, stats, edges)
        np.testing.assert_allclose(got[b].numpy(), want, rtol=1e-6)
    monkeypatch.setattr(pooling, "CHUNK_ELEMENTS", 50)  # chunks of one row
    np.testing.assert_allclose(pooler(tokens).numpy(), got.numpy(), rtol=1e-12)
    tokens_before = tokens.clone()
    pooler(tokens)
    assert torch.equal(tokens, tokens_before)  # the tokens are not modified
    with pytest.raises(ValueError, match="does not match the region boxes"):
        pooler(tokens[:, :, :-1])
    with pytest.raises(ValueError, match="latents.stats"):
        RegionPooler(boxes, ("median",))


@pytest.mark.parametrize("published", [False, True])
def test_extraction_equals_pooling_the_captured_tokens_on_the_host(source, tiny, published):
    """The device path (pool where the tokens are) against the host path it replaced."""
    from aurora_xai.latents.geometry import stage_resolutions, tokens_to_grid

    regions = {"globe": GLOBE, "us": REGIONS["us"], "europe": REGIONS["europe"]}
    ds = extract_pooled(source, tiny, TIMES[:2], "backbone", regions, published_geometry=published)
    lat, lon = source.lat, source.lon
    lat_c, lon_c = patch_centres(lat, lon)
    for i, t in enumerate(TIMES[:2]):
        with capture_latents(tiny, "backbone") as box, torch.inference_mode():
            tiny(source.batch(t))
        grid = tokens_to_grid(box["tokens"], stage_resolutions((4, 60 // 4, 120 // 4), 3)[0])[0]
        if published:
            stacked, lat_stacked = published_token_grid(grid, lat_c)
            want = pool_grid(stacked, lat_stacked, lon_c, regions)
        else:
            want = pool_grid(grid, lat_c, lon_c, regions, lat_edges=patch_lat_edges(lat))
        np.testing.assert_allclose(ds["pooled"].values[i], want.astype(np.float32), rtol=1e-6, atol=1e-7)
    assert list(ds["latent_level"].values) == (["all"] if published else ["surface", "atmos_1", "atmos_2", "atmos_3"])


# --- extraction: batches, taps, reader processes ---------------------------------------------
@pytest.fixture(scope="module")
def one_at_a_time(source, tiny):
    return extract_taps(source, tiny, TIMES, TAPS, BIG, batch_size=1)


def test_batched_extraction_equals_one_at_a_time(source, tiny, one_at_a_time):
    """Batches of 3 dates (the last of 2) against one date per forward pass.

    Tolerance: float32 rounding. Batched matrix products sum in another order, so the
    numbers may differ by a few units in the last place of the largest value (measured:
    at most 1.5e-7 of it); allowed: 2e-6 of the largest absolute value of each tap.
    """
    batched = extract_taps(source, tiny, TIMES, TAPS, BIG, batch_size=3)
    for tap in TAPS:
        a, b = one_at_a_time[tap]["pooled"].values, batched[tap]["pooled"].values
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=2e-6 * np.abs(a).max(), err_msg=tap)
        assert batched[tap]["date"].equals(one_at_a_time[tap]["date"])


def test_several_taps_come_from_one_forward_pass_each(source, tiny, one_at_a_time):
    calls: dict[str, int] = {}
    handles = [_count_calls(tiny.encoder, calls, "encoder"), _count_calls(tiny.decoder, calls, "decoder")]
    try:
        extract_taps(source, tiny, TIMES, TAPS, BIG, batch_size=2)
    finally:
        for h in handles:
            h.remove()
    assert calls == {"encoder": 3, "decoder": 0}  # 5 dates in batches of 2: 3 passes, no decoder
    for tap in ("encoder", "backbone.encoder.1", "backbone"):
        alone = extract_pooled(source, tiny, TIMES, tap, BIG)
        np.testing.assert_array_equal(alone["pooled"].values, one_at_a_time[tap]["pooled"].values)
        assert one_at_a_time[tap].attrs["tap"] == tap
    widths = {tap: one_at_a_time[tap].sizes["channel"] for tap in TAPS}
    assert widths == {
        "encoder": 32,
        "backbone.encoder.0": 32,
        "backbone.encoder.1": 64,
        "backbone.encoder.2": 128,
        "bottleneck": 128,
        "backbone": 64,
    }


def _reopen(path: str, marks: Path) -> ERA5Source:
    (marks / str(os.getpid())).touch()
    return ERA5Source(path)


def test_reader_processes_give_the_same_latents(source, tiny, one_at_a_time, tmp_path):
    reopen = functools.partial(_reopen, str(source.path), tmp_path)
    got = extract_taps(source, tiny, TIMES, ("backbone",), BIG, num_workers=2, batch_size=2, reopen=reopen)
    want = one_at_a_time["backbone"]["pooled"].values
    np.testing.assert_allclose(got["backbone"]["pooled"].values, want, rtol=1e-6, atol=2e-6 * np.abs(want).max())
    opened = {int(p.name) for p in tmp_path.iterdir()}
    assert len(opened) == 2 and os.getpid() not in opened  # each worker opened its own store once
    got = extract_taps(source, tiny, TIMES, ("backbone",), BIG, num_workers=1)
    np.testing.assert_array_equal(got["backbone"]["pooled"].values, want)


def test_sample_loader_stacks_one_time_per_element(source):
    loader = sample_loader(source, TIMES, batch_size=2)
    items = list(loader)
    assert [len(i.times) for i in items] == [2, 2, 1]
    first = items[0].batch
    assert first.surf_vars["msl"].shape == (2, 2, 61, 120)
    assert first.atmos_vars["t"].shape == (2, 2, 13, 61, 120)
    assert [pd.Timestamp(t).tz_convert(None) for t in first.metadata.time] == list(TIMES[:2])
    single = source.batch(TIMES[1])
    assert torch.equal(first.atmos_vars["q"][1:], single.atmos_vars["q"])
    pinned = items[0].pin_memory() if torch.cuda.is_available() else items[0]
    assert torch.equal(pinned.batch.surf_vars["2t"], first.surf_vars["2t"])
    with pytest.raises(ValueError, match="latents.batch_size"):
        sample_loader(source, TIMES, batch_size=0)
    with pytest.raises(ValueError, match="no batches"):
        stack_batches([])


# --- steps stored as NaN, read by reader processes ---------------------------------------------
@pytest.fixture(scope="module")
def nan_store(tmp_path_factory) -> str:
    spec = SyntheticSpec.from_schema(
        resolution=9.0, periods=(("2005-03-01", "2005-03-04"),), extra_variables=False, compress=False
    )
    ds = synthetic_dataset(spec)
    for n in [n for n in ds.data_vars if "time" in ds[n].dims]:
        ds[n].loc[{"time": pd.Timestamp("2005-03-02T12")}] = np.nan
    path = tmp_path_factory.mktemp("nan") / "empty.zarr"
    ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True, encoding={n: {"compressors": None} for n in ds})
    return str(path)


def test_skipped_steps_are_recorded_from_reader_processes(nan_store, tiny, caplog):
    times = pd.DatetimeIndex(["2005-03-02T06", "2005-03-02T12", "2005-03-02T18", "2005-03-03T06", "2005-03-05T06"])
    regions = {"globe": GLOBE}
    runs = {}
    for workers in (0, 1):
        src = open_source("weatherbench2", nan_store, on_missing="skip")
        with caplog.at_level(logging.WARNING):
            runs[workers] = extract_pooled(
                src, tiny, times, "backbone", regions, skip_missing=True, batch_size=2, num_workers=workers
            )
    a, b = runs[0], runs[1]
    assert list(pd.DatetimeIndex(a["date"].values)) == list(pd.DatetimeIndex(["2005-03-02T06", "2005-03-03T06"]))
    assert a.attrs["skipped_dates"] == b.attrs["skipped_dates"] == "2005-03-02T12,2005-03-02T18,2005-03-05T06"
    reasons = json.loads(b.attrs["skipped_reasons"])
    assert reasons == json.loads(a.attrs["skipped_reasons"])
    assert "stored as NaN" in reasons["2005-03-02T12"] and "not in the store" in reasons["2005-03-05T06"]
    np.testing.assert_array_equal(a["pooled"].values, b["pooled"].values)


# --- shards with several taps ---------------------------------------------------------------
def test_shards_hold_every_tap_and_join_per_tap(source, tiny, tmp_path):
    taps = ("backbone", "encoder", "backbone.encoder.1")
    paths = []
    for i, part in enumerate((TIMES[:3], TIMES[3:])):
        pooled = extract_taps(source, tiny, part, taps, BIG)
        paths.append(tmp_path / f"s{i:03d}.nc")
        write_shard(pooled, "backbone", paths[-1])
    assert shard_taps(paths[0]) == ["backbone", "encoder", "backbone.encoder.1"]
    with xr.open_dataset(paths[0]) as root:  # the root group reads as before: the analysis tap
        assert root.attrs["tap"] == "backbone" and root.sizes["channel"] == 64
    expected = [str(t) for t in TIMES]
    joined = {tap: combine_shards(paths, expected=expected, tap=tap) for tap in taps}
    analysis = combine_shards(paths, expected=expected)
    xr.testing.assert_identical(analysis, joined["backbone"])
    alone = extract_pooled(source, tiny, TIMES, "backbone.encoder.1", BIG)
    np.testing.assert_array_equal(joined["backbone.encoder.1"]["pooled"].values, alone["pooled"].values)
    assert joined["encoder"].attrs["tap"] == "encoder" and joined["encoder"].sizes["date"] == 5
    with pytest.raises(ValueError, match=r"no pooled latents of tap 'bottleneck' \(it holds"):
        combine_shards(paths, tap="bottleneck")
    with pytest.raises(KeyError, match="latents.tap"):
        write_shard(pooled, "bottleneck", tmp_path / "bad.nc")
    assert not (tmp_path / "bad.nc").exists()


# --- settings and autocast --------------------------------------------------------------------
def test_latent_settings_and_the_batch_size_execution_key():
    cfg = load_config("config/config.yaml", {"latents": {"taps": ["encoder", "backbone"], "batch_size": 4}})
    part = select(cfg, ["latents"])
    assert "latents.batch_size" in EXECUTION_KEYS and "batch_size" not in part["latents"]
    latents = Settings(part).latents
    assert latents.taps == ("encoder", "backbone") and latents.all_taps == ("backbone", "encoder")
    with pytest.raises(ValueError, match="latents.taps"):
        load_config({"latents": {"taps": ["decoder"]}})
    with pytest.raises(ValueError, match="latents.batch_size"):
        load_config({"latents": {"batch_size": 0}})


def test_autocast_reaches_every_model(monkeypatch):
    import aurora

    import aurora_xai.model as model_module

    assert build_model(ModelSpec.from_schema(name="tiny", autocast=True)).autocast_backbone
    assert not build_model(ModelSpec.from_schema(name="tiny")).autocast_backbone
    # the real architectures, built small: what build_model hands each class
    monkeypatch.setattr(model_module, "_aurora_class", lambda name: functools.partial(aurora.Aurora, **TINY_ARCH))
    for name in MODEL_NAMES[1:]:
        for flag in (True, False):
            m = build_model(ModelSpec.from_schema(name=name, random_weights=True, autocast=flag))
            assert m.autocast_backbone is flag, name


def test_autocast_extraction_runs_on_this_device(source):
    """bf16 autocast of the backbone: the encoder tap is unchanged, backbone taps within 2 %."""
    fp32 = extract_taps(source, build_model(ModelSpec.from_schema()), TIMES[:2], ("encoder", "backbone"), BIG)
    bf16 = extract_taps(
        source, build_model(ModelSpec.from_schema(autocast=True)), TIMES[:2], ("encoder", "backbone"), BIG
    )
    np.testing.assert_array_equal(bf16["encoder"]["pooled"].values, fp32["encoder"]["pooled"].values)
    a, b = fp32["backbone"]["pooled"].values, bf16["backbone"]["pooled"].values
    assert not np.array_equal(a, b)  # the backbone did run in bf16
    assert np.linalg.norm(b - a) / np.linalg.norm(a) < 0.02


def test_reads_are_fresh_arrays_also_from_parts_held_in_memory(small_store):
    """The reader hands out the array it read (no copy) unless xarray holds the part in memory."""
    from aurora_xai.data.sources import open_store

    store = open_store("weatherbench2", str(small_store))
    times = pd.DatetimeIndex(["2005-01-02T00", "2005-01-02T06"])
    first = store.read("temperature", times)  # all levels: slices, the path without a copy
    variable = store.parts[0]["temperature"].variable
    assert variable.values.shape[0] > 2 and variable._in_memory  # xarray now holds it in memory
    second = store.read("temperature", times)
    np.testing.assert_array_equal(second, first)
    second[:] = -1.0  # a caller may change what it got (masking, flipping)
    np.testing.assert_array_equal(store.read("temperature", times), first)


def test_batches_of_samples_sharing_a_step_do_not_share_memory(source):
    """Samples read together: a view of the read when the steps are the sample's own, a copy when
    another sample of the group needs one of them (changing one batch never changes another)."""
    times = pd.DatetimeIndex(["2005-01-02T06", "2005-01-02T12", "2005-01-04T06"])  # the first two share 06
    batches = source.batches(times)
    for t, b in zip(times, batches):
        assert torch.equal(b.atmos_vars["t"], source.batch(t).atmos_vars["t"]), t
    before = batches[1].surf_vars["msl"].clone()
    batches[0].surf_vars["msl"][:] = 0.0  # holds 00 and 06; the second sample holds 06 and 12
    assert torch.equal(batches[1].surf_vars["msl"], before)
