"""Token datasets and TopK sparse autoencoders (aurora_xai.features), with known answers."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest
import torch

from aurora_xai.features.sae import (
    SAEConfig,
    TopKSAE,
    array_batches,
    best_match_cosine,
    evaluate_sae,
    planted_tokens,
    train_sae,
)
from aurora_xai.features.tokens import (
    TokenSample,
    TokenSink,
    TokenStream,
    TokenWriter,
    open_tokens,
    token_coords,
)

#: one torch thread in every test here (bit-identical training and resumption)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _weights(sae: TopKSAE) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in sae.state_dict().items()}


def test_sae_recovers_a_planted_dictionary():
    x, atoms = planted_tokens(8000, 32, 64, 3, noise=0.02, seed=1)
    cfg = SAEConfig(expansion=4, k=3, lr=1e-2, epochs=10, dead_tokens=2000, seed=0)
    run = train_sae(array_batches(x, 256, seed=0), 32, cfg)
    cos = best_match_cosine(atoms, run.sae.W_dec)
    metrics = evaluate_sae(run.sae, array_batches(x, 1024, shuffle=False)(0))
    assert np.median(cos) > 0.98 and (cos > 0.9).mean() > 0.95
    assert metrics.fvu < 0.1 and metrics.n_tokens == 8000
    # the unit-norm decoder columns and exactly k active latents a token
    np.testing.assert_allclose(run.sae.W_dec.norm(dim=0).detach().numpy(), 1.0, atol=1e-5)
    values, indices = run.sae.encode(torch.from_numpy(x[:50]))
    assert indices.shape == (50, 3) and (values >= 0).all()
    assert all(len(set(row.tolist())) == 3 for row in indices)


def test_training_is_deterministic_and_resumable(tmp_path):
    x, _ = planted_tokens(1500, 16, 24, 2, seed=3)
    cfg = SAEConfig(expansion=2, k=2, lr=5e-3, epochs=3, dead_tokens=300, seed=7)
    batches = array_batches(x, 100, seed=1)
    a = train_sae(batches, 16, cfg)
    b = train_sae(batches, 16, cfg)
    for k, v in _weights(a.sae).items():
        assert torch.equal(v, _weights(b.sae)[k]), k
    state = tmp_path / "sae.pt"
    part = train_sae(batches, 16, cfg, state_path=state, checkpoint_every=4, max_steps=22)
    assert not part.finished and part.steps == 22 and state.exists()
    assert not (tmp_path / "sae.pt.tmp").exists()
    done = train_sae(batches, 16, cfg, state_path=state, checkpoint_every=4)
    assert done.finished and done.steps == a.steps == 45 and done.tokens_seen == a.tokens_seen
    for k, v in _weights(a.sae).items():
        assert torch.equal(v, _weights(done.sae)[k]), k
    assert done.history == a.history
    with pytest.raises(ValueError, match="other settings"):
        train_sae(batches, 16, SAEConfig(expansion=2, k=3), state_path=state)
    seeded = train_sae(batches, 16, SAEConfig(expansion=2, k=2, lr=5e-3, epochs=3, dead_tokens=300, seed=8))
    assert not torch.equal(seeded.sae.W_dec, a.sae.W_dec)


def test_aux_loss_revives_dead_latents():
    # half the encoder rows shrunk 100-fold: those latents never reach the top k, get
    # no gradient from the reconstruction and stay dead without the AuxK loss
    x, atoms = planted_tokens(6000, 16, 64, 2, noise=0.02, seed=2)
    crippled = TopKSAE(16, 64, 2, seed=0)
    with torch.no_grad():
        crippled.W_enc[:32] *= 0.01
    runs = {}
    for aux in (0.0, 1 / 32):
        cfg = SAEConfig(expansion=4, k=2, lr=1e-2, epochs=8, dead_tokens=600, aux_coef=aux, seed=0)
        run = train_sae(array_batches(x, 200, seed=0), 16, cfg, initial=crippled)
        runs[aux] = evaluate_sae(run.sae, array_batches(x, 2000, shuffle=False)(0))
    assert runs[0.0].dead_fraction >= 0.45
    assert runs[1 / 32].dead_fraction < 0.6 * runs[0.0].dead_fraction
    assert runs[1 / 32].fvu < runs[0.0].fvu


def test_metrics_count_dead_and_dense_latents():
    sae = TopKSAE(4, 8, 1, seed=0)
    with torch.no_grad():
        sae.W_enc.zero_()
        sae.b_enc.copy_(torch.tensor([5.0, 0, 0, 0, 0, 0, 0, 0]))
    m = evaluate_sae(sae, [np.random.default_rng(0).standard_normal((100, 4)).astype(np.float32)])
    assert m.firing_rate[0] == 1.0 and m.dense_fraction == 1 / 8 and m.dead_fraction == 7 / 8
    # reconstruction is b_pre + 5 * W_dec[:, 0]: FVU > 0, a constant
    assert m.fvu > 1.0


def test_config_and_sae_validation():
    with pytest.raises(ValueError):
        SAEConfig(k=0)
    with pytest.raises(ValueError):
        SAEConfig(aux_coef=-1)
    with pytest.raises(ValueError):
        TopKSAE(4, 8, 9)
    assert SAEConfig(expansion=8).learning_rate(2048) == pytest.approx(2e-4)


# --- token datasets ------------------------------------------------------------------


def _grid(c=4, h=36, w=72):
    lat = np.linspace(87.5, -87.5, h)
    lon = np.arange(w) * (360 / w) + 2.5
    return (c, h, w), lat, lon


def test_token_coords_follow_aurora_order():
    res, lat, lon = _grid(2, 3, 4)
    level, la, lo = token_coords(res, lat, lon)
    assert level.tolist() == [0] * 12 + [1] * 12
    assert la[:4].tolist() == [np.float32(lat[0])] * 4 and lo[4] == np.float32(lon[0])
    with pytest.raises(ValueError):
        token_coords(res, lat[:2], lon)


def test_token_sample_is_seeded_and_stratified():
    res, lat, lon = _grid()
    level, la, _ = token_coords(res, lat, lon)  # 4 x 36 x 72 = 10,368 tokens
    sample = TokenSample(max_tokens=1000, seed=3)
    day = pd.Timestamp("2005-01-02T06")
    idx = sample.indices(level, la, day)
    assert len(idx) == 1000 and len(np.unique(idx)) == 1000 and np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(idx, TokenSample(max_tokens=1000, seed=3).indices(level, la, day))
    assert not np.array_equal(idx, sample.indices(level, la, day + pd.Timedelta(hours=6)))
    assert not np.array_equal(idx, TokenSample(max_tokens=1000, seed=4).indices(level, la, day))
    # proportional allocation: each (level, band) stratum keeps its share, to one token
    strata = sample.strata(level, la)
    ids, sizes = np.unique(strata, return_counts=True)
    kept = np.array([(strata[idx] == s).sum() for s in ids])
    assert len(ids) == 4 * 6
    assert np.all(np.abs(kept - 1000 * sizes / len(level)) < 1) and kept.sum() == 1000
    # a coarse grid keeps every token
    small = TokenSample(max_tokens=20_000)
    np.testing.assert_array_equal(small.indices(level, la, day), np.arange(len(level)))
    with pytest.raises(ValueError):
        TokenSample(lat_edges=(0.0, -90.0))


def _write_store(path, n_dates=5, d=8, chunk=64, max_tokens=150):
    res, lat, lon = _grid(4, 6, 12)  # 288 tokens a date
    level, la, lo = token_coords(res, lat, lon)
    sample = TokenSample(max_tokens=max_tokens, seed=1)
    rng = np.random.default_rng(0)
    dates = pd.date_range("2005-01-01T06", periods=n_dates, freq="D")
    expected = []
    with TokenWriter(path, d, chunk_tokens=chunk, attrs={"tap": "backbone"}) as w:
        for t in dates:
            x = rng.standard_normal((len(level), d)).astype(np.float32)
            idx = sample.indices(level, la, t)
            w.append(x[idx], t, level[idx], la[idx], lo[idx])
            expected.append((t, x[idx], level[idx], la[idx], lo[idx]))
    return expected


def test_token_store_round_trip(tmp_path):
    expected = _write_store(tmp_path / "tokens.zarr")
    ds = open_tokens(tmp_path / "tokens.zarr")
    assert ds["tokens"].dims == ("token", "channel") and ds.sizes["token"] == 5 * 150
    assert ds["tokens"].encoding["chunks"] == (64, 8)
    assert ds.attrs["tap"] == "backbone" and ds.attrs["n_tokens"] == 750 and ds.attrs["n_dates"] == 5
    np.testing.assert_array_equal(ds["tokens"].values, np.concatenate([e[1] for e in expected]))
    np.testing.assert_array_equal(ds["date"].values, np.repeat([np.datetime64(e[0], "ns") for e in expected], 150))
    np.testing.assert_array_equal(ds["latent_level"].values, np.concatenate([e[2] for e in expected]))
    np.testing.assert_array_equal(ds["latitude"].values, np.concatenate([e[3] for e in expected]))
    np.testing.assert_array_equal(ds["longitude"].values, np.concatenate([e[4] for e in expected]))
    assert ds["latitude"].attrs["units"] == "degrees_north"


def test_stream_covers_every_token_once_in_bounded_memory(tmp_path):
    d = 64
    _write_store(tmp_path / "t.zarr", n_dates=40, d=d, chunk=200, max_tokens=250)  # 10,000 tokens, 2.6 MB
    stream = TokenStream(tmp_path / "t.zarr", batch_size=96, seed=5, buffer_chunks=2)
    assert stream.n_tokens == 10_000 and stream.max_rows == 2 * 200 + 96
    tracemalloc.start()
    seen, sizes = [], []
    for batch in stream.batches(epoch=0):
        seen.append(batch.index)
        sizes.append(len(batch.index))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    seen = np.concatenate(seen)
    np.testing.assert_array_equal(np.sort(seen), np.arange(10_000))
    assert max(sizes) == 96 and sum(sizes) == 10_000
    assert peak < 4 * stream.max_rows * d * 4 + 1_000_000 < 10_000 * d * 4  # well below the whole store
    again = np.concatenate([b.index for b in stream.batches(epoch=0)])
    np.testing.assert_array_equal(seen, again)
    other = np.concatenate([b.index for b in stream.batches(epoch=1)])
    assert not np.array_equal(seen, other)
    ds = open_tokens(tmp_path / "t.zarr")
    first = next(stream.batches(epoch=0))
    np.testing.assert_array_equal(first.tokens, ds["tokens"].values[first.index])


def test_training_streams_a_token_store(tmp_path):
    _write_store(tmp_path / "t.zarr", n_dates=8, d=8, chunk=64)
    stream = TokenStream(tmp_path / "t.zarr", batch_size=100, seed=0, buffer_chunks=2)
    cfg = SAEConfig(expansion=2, k=2, epochs=2, dead_tokens=500)
    run = train_sae(stream, 8, cfg)
    assert run.finished and run.tokens_seen == 2 * 8 * 150 and run.steps == 2 * 12
    again = train_sae(stream, 8, cfg)
    assert torch.equal(run.sae.decoder, again.sae.decoder)
    assert evaluate_sae(run.sae, stream(0)).n_tokens == 1200


def test_sink_writes_the_sample_of_each_tap(tmp_path):
    class Geometry:
        res = (4, 6, 12)
        lat_centres = np.linspace(75, -75, 6)
        lon = np.arange(12) * 30.0 + 15

    times = [pd.Timestamp("2005-01-02T06"), pd.Timestamp("2005-01-03T06")]
    tokens = torch.arange(2 * 288 * 3, dtype=torch.float32).reshape(2, 288, 3)
    sample = TokenSample(max_tokens=100, seed=2)
    with TokenSink({"backbone": tmp_path / "b.zarr"}, sample, chunk_tokens=50) as sink:
        sink("backbone", times, tokens, Geometry())
        sink("encoder", times, tokens, Geometry())  # not asked for
    assert not (tmp_path / "encoder").exists()
    ds = open_tokens(tmp_path / "b.zarr")
    level, lat, _ = token_coords(Geometry.res, Geometry.lat_centres, Geometry.lon)
    idx = sample.indices(level, lat, times[1])
    np.testing.assert_array_equal(ds["tokens"].values[100:], tokens[1, idx].numpy())
    assert ds.attrs["token_resolution"] == [4, 6, 12] and ds.attrs["sample_max_tokens"] == 100


def test_sink_receives_the_extraction_tokens_without_another_pass(small_store, tmp_path):
    from aurora_xai.data.era5 import ERA5Source
    from aurora_xai.latents.extract import extract_taps
    from aurora_xai.model import ModelSpec, build_model
    from aurora_xai.regions import regions_from_config

    src = ERA5Source(str(small_store))
    model = build_model(ModelSpec.from_schema())
    regions = regions_from_config({"all": dict(lat_min=-90, lat_max=90, lon_min=0, lon_max=360)})
    times = pd.DatetimeIndex(["2005-01-02T06", "2005-01-03T06"])
    paths = {"encoder": tmp_path / "enc.zarr", "backbone": tmp_path / "bb.zarr"}
    with TokenSink(paths, TokenSample(max_tokens=100_000), chunk_tokens=256) as sink:
        pooled = extract_taps(src, model, times, ("encoder", "backbone"), regions, area_weighted=False, token_sink=sink)
    for tap in paths:
        ds = open_tokens(paths[tap])
        c, h, w = ds.attrs["token_resolution"]
        assert ds.sizes["token"] == 2 * c * h * w  # a coarse grid: every token
        x = ds["tokens"].values.reshape(2, c, h * w, -1)
        # the mean over a level's tokens is the pooled (unweighted) mean over the globe
        mean = pooled[tap]["pooled"].sel(region="all", stat="mean").values  # (date, level, channel)
        np.testing.assert_allclose(x.astype(np.float64).mean(axis=2), mean, rtol=1e-4, atol=1e-5)
        assert str(ds["date"].values[0])[:13] == "2005-01-02T06" and set(np.unique(ds["latent_level"])) == {0, 1, 2, 3}


def test_save_and_load_sae_round_trip_with_identical_bytes(tmp_path):
    from aurora_xai.features.sae import load_sae, save_sae

    cfg = SAEConfig(expansion=2, k=3, seed=4)
    sae = TopKSAE(6, 12, 3, seed=4)
    a = save_sae(tmp_path / "a.pt", sae, cfg, {"tap": "backbone"})
    b = save_sae(tmp_path / "sub" / "b.pt", sae, cfg, {"tap": "backbone"})
    assert a == b and (tmp_path / "a.pt").read_bytes() == (tmp_path / "sub" / "b.pt").read_bytes()
    back, cfg2, meta = load_sae(tmp_path / "a.pt")
    assert cfg2 == cfg and meta == {"tap": "backbone"}
    x = torch.randn(5, 6)
    assert torch.equal(back(x), sae(x))
    with pytest.raises(FileNotFoundError, match="no SAE"):
        load_sae(tmp_path / "missing.pt")
