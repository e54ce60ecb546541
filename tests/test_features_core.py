"""The SAE evaluation's held-out split, the multi-store token stream with a date filter,
and the evaluation's known answers."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest
import torch

from aurora_xai.features.evaluation import (
    chance_stability,
    heldout_metrics,
    region_means,
    seed_stability,
    week_sums,
)
from aurora_xai.features.sae import SAEConfig, TopKSAE, evaluate_sae, train_sae
from aurora_xai.features.split import holdout_dates, holdout_weeks
from aurora_xai.features.tokens import TokenStream, TokenWriter
from aurora_xai.regions import Region

#: one torch thread in every test here (bit-identical training and resumption)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_holdout_dates_are_whole_iso_weeks():
    dates = pd.date_range("2004-12-27", "2006-01-08", freq="D")
    held = holdout_dates(dates, 5)
    weeks = dates.isocalendar()["week"].to_numpy()
    np.testing.assert_array_equal(held, weeks % 5 == 0)
    # whole weeks: every date of a held-out ISO week is held out
    labels = holdout_weeks(dates)
    for w in np.unique(labels[held]):
        assert held[labels == w].all()
    assert 0.15 < held.mean() < 0.25
    # 2005-01-31 is in ISO week 5; 2005-01-30 (a Sunday) in week 4
    assert holdout_dates(["2005-01-31T06"], 5).tolist() == [True]
    assert holdout_dates(["2005-01-30T18"], 5).tolist() == [False]
    assert holdout_weeks(["2005-01-01"]).tolist() == [200453]  # ISO year 2004, week 53
    assert holdout_dates([], 5).shape == (0,)
    with pytest.raises(ValueError):
        holdout_dates(dates, 1)


def _seconds(t):
    return np.asarray((pd.DatetimeIndex(t) - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1), dtype=np.int64)


def _store(path, dates, d=8, per_date=50, chunk=64, seed=0):
    rng = np.random.default_rng(seed)
    lat = np.linspace(-80, 80, per_date).astype(np.float32)
    lon = np.linspace(0, 350, per_date).astype(np.float32)
    level = (np.arange(per_date) % 4).astype(np.int8)
    with TokenWriter(path, d, chunk_tokens=chunk) as w:
        for t in dates:
            w.append(rng.standard_normal((per_date, d)).astype(np.float32), t, level, lat, lon)


def test_stream_of_shards_keeps_each_passing_token_once_in_bounded_memory(tmp_path):
    d = 32
    a = pd.date_range("2005-01-01T06", periods=30, freq="D")
    b = pd.date_range("2005-01-31T06", periods=30, freq="D")
    _store(tmp_path / "a.zarr", a, d=d, per_date=100, chunk=128, seed=1)
    _store(tmp_path / "b.zarr", b, d=d, per_date=100, chunk=96, seed=2)
    paths = [tmp_path / "a.zarr", tmp_path / "b.zarr"]

    def keep(dates):
        return ~holdout_dates(dates, 5)

    stream = TokenStream(paths, batch_size=70, seed=3, buffer_chunks=2, keep=keep)
    all_dates = a.append(b)
    kept_dates = all_dates[~holdout_dates(all_dates, 5)]
    assert stream.n_stored == 6000 and stream.n_tokens == 100 * len(kept_dates) < 6000
    tracemalloc.start()
    batches = list(stream.batches(epoch=0))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    seen = np.concatenate([x.index for x in batches])
    assert len(seen) == stream.n_tokens == len(np.unique(seen))
    assert max(len(x.index) for x in batches) == 70
    # the kept tokens are exactly those of the passing dates, read from the right store
    dates = np.concatenate([x.date for x in batches]).astype("datetime64[s]")
    assert not holdout_dates(dates, 5).any()
    from aurora_xai.features.tokens import open_tokens

    both = np.concatenate([open_tokens(p)["tokens"].values for p in paths])
    tokens = np.concatenate([x.tokens for x in batches])
    np.testing.assert_array_equal(tokens, both[seen])
    expected = np.flatnonzero(np.repeat(~holdout_dates(all_dates, 5), 100))
    np.testing.assert_array_equal(np.sort(seen), expected)
    assert peak < 6 * stream.max_rows * (d * 4 + 40) + 1_000_000
    # deterministic for the seed and epoch
    np.testing.assert_array_equal(seen, np.concatenate([x.index for x in stream.batches(epoch=0)]))
    assert not np.array_equal(seen, np.concatenate([x.index for x in stream.batches(epoch=1)]))
    # the held-out complement
    held = TokenStream(paths, batch_size=70, keep=lambda t: holdout_dates(t, 5), shuffle=False)
    assert held.n_tokens + stream.n_tokens == 6000
    with pytest.raises(ValueError, match="different channels"):
        _store(tmp_path / "c.zarr", a[:2], d=4)
        TokenStream([tmp_path / "a.zarr", tmp_path / "c.zarr"])


def test_heldout_metrics_match_evaluate_sae_and_known_answers(tmp_path):
    dates = pd.date_range("2005-01-01T06", periods=60, freq="D")
    _store(tmp_path / "t.zarr", dates, d=8, per_date=40)
    stream = TokenStream(tmp_path / "t.zarr", batch_size=128, shuffle=False)
    sae = train_sae(stream, 8, SAEConfig(expansion=2, k=4, epochs=1, dead_tokens=500, seed=0)).sae
    sums = week_sums(sae, stream.batches())
    m = heldout_metrics(sums, dense_threshold=0.1, n_boot=200, seed=1)
    ref = evaluate_sae(sae, stream(0), dense_threshold=0.1)
    assert m.fvu == pytest.approx(ref.fvu, rel=1e-9)
    assert m.dead_fraction == pytest.approx(ref.dead_fraction)
    assert m.dense_fraction == pytest.approx(ref.dense_fraction)
    assert m.fvu_ci[0] <= m.fvu <= m.fvu_ci[1] and m.n_tokens == 2400 and m.n_weeks == len(np.unique(sums.weeks))
    # a perfect reconstruction: tokens in the span of k decoder columns, exactly
    perfect = TopKSAE(4, 4, 4, seed=0)
    with torch.no_grad():
        perfect.W_enc.copy_(torch.eye(4))
        perfect.decoder.copy_(torch.eye(4))
        perfect.b_pre.zero_()
    x = np.abs(np.random.default_rng(0).standard_normal((300, 4))).astype(np.float32)

    class B:
        def __init__(self, tokens, date):
            self.tokens, self.date = tokens, date

    secs = np.repeat(_seconds(pd.date_range("2005-01-03", periods=30, freq="D")), 10)
    pm = heldout_metrics(week_sums(perfect, [B(x[:150], secs[:150]), B(x[150:], secs[150:])]), n_boot=50)
    assert pm.fvu == pytest.approx(0.0, abs=1e-12) and pm.fvu_ci[1] == pytest.approx(0.0, abs=1e-12)
    assert pm.dead_fraction == 0 and pm.dense_fraction == 1.0


def test_seed_stability_known_answers():
    a = TopKSAE(16, 64, 4, seed=0)
    assert seed_stability(a, a) == pytest.approx(1.0)
    b = TopKSAE(16, 64, 4, seed=0)
    with torch.no_grad():  # the same directions, permuted and negated
        b.decoder.copy_(-a.decoder[torch.randperm(64, generator=torch.Generator().manual_seed(1))])
    assert seed_stability(a, b) == pytest.approx(1.0)
    chance = chance_stability(16, 64, 4)
    assert 0.2 < chance < 0.9 and chance == chance_stability(16, 64, 4)
    with pytest.raises(ValueError):
        seed_stability(a, TopKSAE(8, 64, 4))


def test_region_means_average_the_region_tokens():
    sae = TopKSAE(4, 8, 2, seed=0)
    t = pd.DatetimeIndex(["2005-01-01T06", "2005-01-02T06"])
    secs = _seconds(t)
    x = np.arange(24, dtype=np.float32).reshape(6, 4)

    class B:
        tokens = x
        date = np.repeat(secs, 3)
        latitude = np.array([10, 50, 50, 50, 50, -40], np.float32)
        longitude = np.array([260, 260, 270, 100, 265, 265], np.float32)

    box = Region("box", 40, 60, 250, 280)
    codes, tokens = region_means(sae, [B()], box, t.values)
    np.testing.assert_allclose(tokens[0], x[1:3].mean(0))
    np.testing.assert_allclose(tokens[1], x[4])
    z = sae.dense_code(*sae.encode(torch.from_numpy(x))).detach().double().numpy()
    np.testing.assert_allclose(codes[0], z[1:3].mean(0))
    with pytest.raises(ValueError, match="no tokens"):
        region_means(sae, [B()], Region("south", -89, -60, 0, 10), t.values)


def _run_train_script(tmp_path, stores, out, seed=0):
    """The rule's script, run with a stand-in for Snakemake's ``snakemake`` object."""
    import runpy
    from pathlib import Path
    from types import SimpleNamespace

    class Out(list):
        pass

    sae = {"expansion": 2, "k": 2, "k_aux": None, "aux_coef": 1 / 32, "dead_tokens": 10_000_000, "epochs": 2,
           "batch_size": 128, "learning_rate": None}  # fmt: skip
    sm = SimpleNamespace(
        log=[str(tmp_path / "train.log")],
        threads=1,
        params=SimpleNamespace(
            settings={"features": {"sae": sae, "evaluation": {"holdout_every": 5}}},
            state=str(tmp_path / "state" / f"{Path(out).stem}.pt"),
        ),
        wildcards=SimpleNamespace(tap="backbone", model="trained", seed=str(seed)),
        resources=SimpleNamespace(sae_device="cpu"),
        input=SimpleNamespace(stores=[str(s) for s in stores]),
        output=Out([str(out)]),
    )
    script = Path(__file__).resolve().parents[1] / "workflow" / "scripts" / "train_sae.py"
    runpy.run_path(str(script), init_globals={"snakemake": sm})


def test_train_sae_rule_script_is_deterministic(tmp_path):
    from aurora_xai.features.sae import load_sae

    shards = []
    for i, start in enumerate(("2005-01-24T06", "2005-02-07T06")):
        folder = tmp_path / f"s{i}"
        folder.mkdir()
        _store(folder / "backbone.zarr", pd.date_range(start, periods=14, freq="D"), d=8, per_date=30, seed=i)
        shards.append(folder)
    _run_train_script(tmp_path, shards, tmp_path / "a.pt")
    _run_train_script(tmp_path, shards, tmp_path / "b.pt")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    _, config, meta = load_sae(tmp_path / "a.pt")
    dates = pd.DatetimeIndex(meta["train_dates"])
    assert len(dates) == 28 - 7 and not holdout_dates(dates, 5).any()  # ISO week 5 held out
    assert meta["tokens_seen"] == 2 * 21 * 30 and config.epochs == 2 and meta["model"] == "trained"
    assert not (tmp_path / "state" / "a.pt").exists()  # the finished run's state is gone
    assert "epoch 2/2" in (tmp_path / "train.log").read_text()


def test_headline_rows_of_a_tap_without_region_tokens_say_why():
    from aurora_xai.features.evaluation import sae_headline
    from aurora_xai.tables import headline_rows

    nan = float("nan")
    table = pd.DataFrame(
        [
            dict(tap="backbone", model="trained", metric="fvu", features="sae", value=0.05, ci_low=0.04,
                 ci_high=0.06, n=100, n_unit="held-out tokens", detail=""),
            dict(tap="backbone", model="random", metric="fvu", features="sae", value=0.03, ci_low=0.02,
                 ci_high=0.04, n=100, n_unit="held-out tokens", detail=""),
            dict(tap="bottleneck", model="trained", metric="probe_r2_t850", features="dense", value=nan, ci_low=nan,
                 ci_high=nan, n=30, n_unit="dates", detail="not fitted: no tokens in region 'us'"),
        ]
    )  # fmt: skip
    rows = headline_rows(sae_headline(table, 100)).set_index("metric")
    assert list(rows.index) == ["sae_fvu@backbone", "sae_fvu@backbone_random", "sae_probe_r2_t850@bottleneck_dense"]
    assert rows.loc["sae_fvu@backbone", "value"] == 0.05
    assert "no tokens" in rows.loc["sae_probe_r2_t850@bottleneck_dense", "note"]
    assert all(rows["calibration"].str.len() > 0)
