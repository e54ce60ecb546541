"""Side-by-side benchmarks of the project's speed and memory targets.

Each section measures two things in the same process, interleaved, and prints their
ratio (these machines are noisy: compare ratios, not absolute times). Every ratio is new
/ reference (``aurora_xai.benchmark.ratio``, as ``tools/gpu_check.py`` reports it): of
times, below 1 the new way is faster; a speed-up is the reverse, and is named so.

    python tools/benchmark.py            # every section
    python tools/benchmark.py extraction bytes

Sections:
  extraction  wall time per date of the extraction (read in a worker process + forward
              pass ending at the tap + pooling) against the bare full forward pass
              ``model(batch)`` on the same inputs, at 1 deg with the small architecture
              (random weights), and the extraction without the early stop (target:
              <= 0.85x the bare forward pass)
  reading     samples of a 0.25 deg WeatherBench 2-schema zarr v2 store with extra
              variables: the reader (zarr-python through xarray; and through
              xarray-tensorstore when installed) against reading the same chunks directly
              with zarr-python and tensorstore; MB/s per reader process with 1 and 2
              processes (target: reader within 1.3x of the storage library)
  bf16        Aurora's bf16 autocast against float32: relative difference of the pooled
              features of every tap and of the relevance (compute_relevance), and time
  bytes       bytes read from the store per sample against the bytes the sample needs,
              on a synthetic store with extra variables (target: <= 1.1x)
  bootstrap   1000 bootstrap PCAs at the study's size, fast path against the naive loop
  lrp         LRP time and peak memory against a plain forward (target: <= 4x time)
  lrp_memory  peak resident memory of one CP-LRP pass of an msl target (the small
              architecture, random weights) per checkpointing level at 1, 0.5 and 0.25 deg,
              side by side; each pass in a child process that a watchdog kills above a cap
              (--memory-cap-gb, default 16), reported as "> cap". A pass whose peak,
              extrapolated from the coarser grids, exceeds the cap or the memory available
              is not started (its extrapolation is printed); nor is 0.25 deg without
              checkpointing (target: 0.25 deg within 24 GB; about an hour on 2 cores)
  masks       perturbation masks per second, batched against one mask per forward
  surrogate   the surrogate's training step (reading its samples, forward, backward and the
              AdamW step; train_surrogate on a 3 deg synthetic store with the embedded
              default's surrogate settings) against a no-grad forward pass of the same
              batch; steps/s and the default's training time extrapolated from it
              (target: the training within about 3 minutes of 2 cores)
  sae         TopK SAE training on the same tokens (planted sparse atoms; the tiny model's
              backbone tokens of the synthetic store, written by the extraction's token
              sink), the project's TopKSAE against eai-sparsify's SparseCoder driven by
              the same loop (same batches, Adam, learning rate, AuxK, k, latents): FVU
              at equal k and the time ratio (tokens/s of each). SparseCoder is skipped
              when eai-sparsify does not import (its module alone needs simple-parsing,
              docstring-parser, natsort, accelerate and transformers)
  tokens      the extraction with the token sink (every feature tap's token sample written
              to zarr, features.sample's default) against the pooled extraction alone, on the
              same passes (the tiny model, 3 deg synthetic store, all taps of the embedded
              default, alternating rounds): tokens/s written and the time ratio (target:
              <= 1.3x); then SAE training streamed from those stores (TokenStream over two
              shards with the held-out weeks filtered out) against the same tokens in memory
  download    the ERA5 copy (download_subset) from local WeatherBench 2-schema stores of
              >= 1 GB with extra variables (0.25 deg, the study's grid, and a 1 deg
              synthetic one): dask threads against the serial copy, each in a fresh
              Python, alternating; throughput and peak memory (the child's VmHWM) of each
              (target: >= 2x)
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from aurora_xai.benchmark import ratio, timed
from aurora_xai.data.era5 import ERA5Source
from aurora_xai.data.synthetic import SyntheticSpec, write_synthetic_store
from aurora_xai.latents.extract import extract_taps
from aurora_xai.model import ModelSpec, build_model
from aurora_xai.regions import regions_from_config
from aurora_xai.settings import load_config

# The boxes pooled: the embedded default config's (config/config.yaml, their one copy).
_DEFAULT_REGIONS = load_config(Path(__file__).resolve().parents[1] / "config" / "config.yaml")["regions"]
REGIONS = {name: _DEFAULT_REGIONS[name] for name in ("us", "europe")}


def _store(tmp: Path, compress: bool = True) -> Path:
    path = tmp / ("store.zarr" if compress else "store_raw.zarr")
    if not path.exists():
        write_synthetic_store(
            SyntheticSpec.from_schema(periods=(("2005-01-01", "2005-01-31"),), compress=compress), path
        )
    return path


def _store_1deg(tmp: Path) -> Path:
    """A 1 deg synthetic store (WeatherBench 2 schema, extra variables) of early January 2005."""
    path = tmp / "store_1deg.zarr"
    if not path.exists():
        write_synthetic_store(SyntheticSpec.from_schema(resolution=1.0, periods=(("2005-01-01", "2005-01-08"),)), path)
    return path


def bench_extraction(tmp: Path, n_dates: int = 3, rounds: int = 3) -> None:
    """Extraction per date against the bare full forward pass, interleaved, at 1 deg.

    The extraction runs as the rule does with 2 threads: one reader process, the model in
    this one, the forward pass ending at the tap (``backbone``), pooling over the globe
    and two boxes. The bare forward pass runs ``model(batch)`` on batches read beforehand.
    Each of both is warmed up once; the order of the three alternates between rounds.
    """
    src = ERA5Source(str(_store_1deg(tmp)))
    model = build_model(ModelSpec.from_schema(name="small-pretrained", random_weights=True))
    regions = regions_from_config({"globe": dict(lat_min=-90, lat_max=90, lon_min=0, lon_max=360), **REGIONS})
    times = pd.date_range("2005-01-02T06", periods=n_dates, freq="D")
    batches = [src.batch(t) for t in times]

    def bare() -> None:
        with torch.inference_mode():
            for b in batches:
                model(b)

    kinds = {
        "bare": bare,
        "extraction": lambda: extract_taps(src, model, times, ("backbone",), regions, num_workers=1),
        "no early stop": lambda: extract_taps(
            src, model, times, ("backbone",), regions, num_workers=1, early_stop=False
        ),
    }
    with torch.inference_mode():
        model(batches[0])
    extract_taps(src, model, times[:1], ("backbone",), regions, num_workers=1)
    runs: dict[str, list[float]] = {k: [] for k in kinds}
    for r in range(rounds):
        for kind in list(kinds)[:: 1 if r % 2 == 0 else -1]:
            runs[kind].append(timed(kinds[kind])[1] / n_dates)
    med = {k: statistics.median(v) for k, v in runs.items()}
    ratios = [ratio(e, b) for e, b in zip(runs["extraction"], runs["bare"])]
    print(
        f"extraction  1 deg (181 x 360), small architecture, {n_dates} dates x {rounds} rounds: per date "
        f"bare forward {med['bare']:.2f} s, extraction {med['extraction']:.2f} s, without the early stop "
        f"{med['no early stop']:.2f} s"
    )
    print(
        f"            extraction / bare forward {ratio(med['extraction'], med['bare']):.3f} (rounds: "
        f"{', '.join(f'{r:.3f}' for r in ratios)}; target <= 0.85); without the early stop "
        f"{ratio(med['no early stop'], med['bare']):.3f}"
    )


def bench_bytes(tmp: Path) -> None:
    from aurora_xai.data.read_bytes import measure_read_bytes

    src = ERA5Source(str(_store(tmp, compress=False)))
    read, needed = measure_read_bytes(src, pd.Timestamp("2005-01-10T06"))
    print(
        f"bytes       per sample: read {read / 1e6:.2f} MB, needed {needed / 1e6:.2f} MB; ratio {ratio(read, needed):.3f} (target <= 1.1)"
    )


def bench_bootstrap() -> None:
    from aurora_xai.regimes.bootstrap import benchmark_bootstrap

    r = benchmark_bootstrap(n=365, p=3000, n_boot=1000)
    print(
        f"bootstrap   365 x 3000, N=1000: fast {r['fast_s']:.2f} s, naive (extrapolated from {r.get('n_naive', 5)}) "
        f"{r['naive_s_extrapolated']:.1f} s; speed-up {r['speedup']:.1f}x"
    )


def bench_lrp() -> None:
    from aurora_xai.attribution._testing import synthetic_batch, tiny_lrp_model
    from aurora_xai.attribution.benchmark import benchmark_lrp
    from aurora_xai.attribution.targets import ForecastTarget
    from aurora_xai.regions import Region

    model = tiny_lrp_model(dtype=torch.float32, bias_std=0.0)
    batch = synthetic_batch(
        nlat=61, nlon=120, levels=(50, 100, 150, 200, 250, 300, 400, 500, 600, 700, 850, 925, 1000), dtype=torch.float32
    )
    r = benchmark_lrp(model, batch, ForecastTarget("msl", region=Region("europe", 30, 72, 348, 45)))
    keys = ", ".join(f"{k} {v:.4g}" for k, v in r.items() if isinstance(v, (int, float)))
    print(f"lrp         61 x 120, 13 levels: {keys}")


#: Grids of the lrp_memory section: (label, latitudes, longitudes).
LRP_MEMORY_GRIDS = (("1 deg", 181, 360), ("0.5 deg", 361, 720), ("0.25 deg", 721, 1440))


def _extrapolate(points: list[tuple[int, dict]], cells: int) -> float:
    """Peak bytes at ``cells`` grid cells from finished passes ``(cells, result)``.

    Two or more: the straight line through the two finest (the peak is a fixed part plus
    a part per cell); one: its start plus its increase scaled by the cells.
    """
    if len(points) >= 2:
        (c0, r0), (c1, r1) = points[-2], points[-1]
        slope = (r1["peak_bytes"] - r0["peak_bytes"]) / (c1 - c0)
        return r1["peak_bytes"] + slope * (cells - c1)
    ((c0, r0),) = points
    return r0["start_bytes"] + (r0["peak_bytes"] - r0["start_bytes"]) * cells / c0


def _available_bytes() -> int:
    with open("/proc/meminfo") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))


def bench_lrp_memory(
    cap_gb: float = 16.0, threads: int = 2, levels: list[str] | None = None, grids: list[str] | None = None
) -> None:
    """The lrp_memory section; ``levels`` and ``grids`` (labels of :data:`LRP_MEMORY_GRIDS`)
    choose rows and columns (default: all). A finer grid is extrapolated only from the
    grids run in this call."""
    from aurora_xai.attribution.benchmark import lrp_peak_memory
    from aurora_xai.attribution.patching import CHECKPOINTING_LEVELS

    levels = list(levels or CHECKPOINTING_LEVELS)
    grids_run = [g for g in LRP_MEMORY_GRIDS if not grids or g[0] in grids]
    cap = cap_gb * 1e9
    print(
        f"lrp_memory  peak RSS of one CP-LRP pass (msl at +6 h over Europe; small architecture, random weights; "
        f"{threads} threads; child process, cap {cap_gb:g} GB)"
    )
    rows = {}
    for level in levels:
        done: list[tuple[int, dict]] = []
        cells_out = []
        for label, nlat, nlon in grids_run:
            cells = nlat * nlon
            guess = _extrapolate(done, cells) if done else None
            if guess is not None and (level == "none" and label == "0.25 deg" or guess > cap):
                cells_out.append(f"~{guess / 1e9:.1f} GB (extrapolated, not run)")
                continue
            if guess is not None and guess > _available_bytes() - 1e9:
                cells_out.append(f"~{guess / 1e9:.1f} GB (not run: {_available_bytes() / 1e9:.1f} GB available)")
                continue
            r = lrp_peak_memory(nlat, nlon, level, threads=threads, cap_bytes=cap)
            if r["status"] == "ok":
                done.append((cells, r))
                cells_out.append(
                    f"{r['peak_bytes'] / 1e9:.2f} GB (start {r['start_bytes'] / 1e9:.2f}, {r['time_s']:.0f} s)"
                )
            elif r["status"] == "killed":
                more = f"; ~{_extrapolate(done, cells) / 1e9:.1f} GB extrapolated" if done else ""
                cells_out.append(f"> {cap_gb:g} GB (killed{more})")
            else:
                cells_out.append(f"{r['status']}: {r.get('error', '')}")
            print(f"            {level:16s} {label:9s} {cells_out[-1]}", flush=True)
        rows[level] = cells_out
    print("            " + " | ".join(["level".ljust(16), *(g[0] for g in grids_run)]))
    for level, cells_out in rows.items():
        print("            " + " | ".join([level.ljust(16), *cells_out]))


def bench_masks(tmp: Path, n_masks: int = 32, batch_size: int = 8) -> None:
    from aurora_xai.perturbation.benchmark import benchmark_batched_masks

    src = ERA5Source(str(_store(tmp)))
    model = build_model(ModelSpec.from_schema())
    batch = src.batch(pd.Timestamp("2005-01-10T06"))
    rng = np.random.default_rng(0)
    masks = rng.random((n_masks, len(src.lat), len(src.lon))) < 0.01
    r = benchmark_batched_masks(model, batch, masks, batch_size=batch_size, repeats=5)
    print(
        f"masks       {n_masks} masks: batched (x{batch_size}) {r['masks_per_s_batched']:.1f}/s, one per pass "
        f"{r['masks_per_s_single']:.1f}/s; speed-up {r['speedup']:.2f}x (medians of {r['repeats']} alternating runs)"
    )


def _sparse_coder():
    """eai-sparsify's ``(SparseCoder, SparseCoderConfig)``, or None where it does not import.

    The package's ``__init__`` also imports its trainer (datasets, transformers); where
    that fails, the coder's own module is imported alone."""
    import importlib.util
    import types

    try:
        from sparsify import SparseCoder, SparseCoderConfig

        return SparseCoder, SparseCoderConfig
    except ImportError:
        spec = importlib.util.find_spec("sparsify")
        if spec is None or not spec.submodule_search_locations:
            return None
    for name in [m for m in sys.modules if m == "sparsify" or m.startswith("sparsify.")]:
        del sys.modules[name]
    pkg = types.ModuleType("sparsify")
    pkg.__path__ = list(spec.submodule_search_locations)
    sys.modules["sparsify"] = pkg
    try:
        from sparsify.config import SparseCoderConfig
        from sparsify.sparse_coder import SparseCoder
    except ImportError as err:
        print(f"sae         eai-sparsify's SparseCoder does not import: {err}")
        return None
    return SparseCoder, SparseCoderConfig


class _CoderView:
    """A SparseCoder seen through TopKSAE's encode/decode (for evaluate_sae)."""

    def __init__(self, coder) -> None:
        self.coder, self.d_in, self.n_latents = coder, coder.d_in, coder.num_latents

    def to(self, device):
        self.coder.to(device)
        return self

    def encode(self, x):
        out = self.coder.encode(x)
        return out[0], out[1]

    def decode(self, values, indices):
        return self.coder.decode(values, indices)


def _train_sparse_coder(classes, batches, d: int, cfg) -> tuple[object, int]:
    """SparseCoder trained by the loop of train_sae (Adam, b_dec from the first batch, the
    decoder's gradient projection and unit norm, AuxK over the dead-token window)."""
    sparse_coder, coder_config = classes
    torch.manual_seed(cfg.seed)
    coder = sparse_coder(d, coder_config(expansion_factor=cfg.expansion, k=cfg.k))
    opt = torch.optim.Adam(coder.parameters(), lr=cfg.learning_rate(d), eps=6.25e-10)
    since = torch.zeros(coder.num_latents, dtype=torch.int64)
    tokens = 0
    for epoch in range(cfg.epochs):
        for x in batches(epoch):
            x = torch.from_numpy(x)
            if tokens == 0:
                coder.b_dec.data = x.mean(0)
            out = coder(x, dead_mask=since >= cfg.dead_tokens)
            (out.fvu + cfg.aux_coef * out.auxk_loss).backward()
            coder.remove_gradient_parallel_to_decoder_directions()
            opt.step()
            opt.zero_grad(set_to_none=True)
            coder.set_decoder_norm_to_unit_norm()
            since += len(x)
            since[out.latent_indices[out.latent_acts > 0].flatten()] = 0
            tokens += len(x)
    return coder, tokens


def _sae_revival(classes) -> None:
    """Dead latents after training from a start where half the encoder rows are shrunk
    100-fold (they never reach the top k), with and without the AuxK loss."""
    from aurora_xai.features.sae import SAEConfig, TopKSAE, array_batches, evaluate_sae, planted_tokens, train_sae

    x, _ = planted_tokens(6000, 16, 64, 2, noise=0.02, seed=2)
    start = TopKSAE(16, 64, 2, seed=0)
    with torch.no_grad():
        start.W_enc[:32] *= 0.01
    out = []
    for aux in (0.0, 1 / 32):
        cfg = SAEConfig(expansion=4, k=2, lr=1e-2, epochs=8, dead_tokens=600, aux_coef=aux, seed=0)
        batches = array_batches(x, 200, seed=0)
        ours = evaluate_sae(train_sae(batches, 16, cfg, initial=start).sae, [x]).dead_fraction
        cell = f"aux {aux:.3g}: ours {ours:.3f}"
        if classes is not None:
            sparse_coder, coder_config = classes

            class Started(sparse_coder):  # the same start
                def __init__(self, d, c):
                    super().__init__(d, c)
                    with torch.no_grad():
                        self.encoder.weight.copy_(start.W_enc)
                        self.W_dec.copy_(start.decoder)

            coder, _ = _train_sparse_coder((Started, coder_config), batches, 16, cfg)
            cell += f", SparseCoder {evaluate_sae(_CoderView(coder), [x]).dead_fraction:.3f}"
        out.append(cell)
    print(f"sae         dead fraction after a start with 32 of 64 latents crippled: {'; '.join(out)}")


def _tiny_backbone_tokens(tmp: Path, n_dates: int = 8) -> np.ndarray:
    """The tiny model's backbone tokens of ``n_dates`` dates, through the extraction's token sink."""
    from aurora_xai.features.tokens import TokenSample, TokenSink, open_tokens

    src = ERA5Source(str(_store(tmp)))
    times = pd.date_range("2005-01-02T06", periods=n_dates, freq="D")
    path = tmp / "tokens_backbone.zarr"
    with TokenSink({"backbone": path}, TokenSample(max_tokens=100_000)) as sink:
        extract_taps(
            src,
            build_model(ModelSpec.from_schema()),
            times,
            ("backbone",),
            regions_from_config(REGIONS),
            token_sink=sink,
        )
    return open_tokens(path)["tokens"].values


def bench_sae(tmp: Path, rounds: int = 2) -> None:
    from aurora_xai.features.sae import SAEConfig, array_batches, evaluate_sae, planted_tokens, train_sae

    classes = _sparse_coder()
    sets = {  # label: (tokens, k, epochs)
        "planted (d 64, 256 atoms, 4 a token)": (planted_tokens(20_000, 64, 256, 4, noise=0.05, seed=0)[0], 16, 3),
        "tiny model backbone": (_tiny_backbone_tokens(tmp), 16, 3),
        "planted (d 512, 2048 atoms, 8 a token)": (planted_tokens(8192, 512, 2048, 8, noise=0.02, seed=0)[0], 32, 2),
    }
    for label, (x, k, epochs) in sets.items():
        d = x.shape[1]
        cfg = SAEConfig(expansion=8, k=k, epochs=epochs, dead_tokens=len(x) // 2, seed=0)
        batches = array_batches(x, 1024, seed=0)
        runs: dict[str, list[float]] = {"ours": [], "sparsify": []}
        fvu: dict[str, float] = {}
        for _ in range(rounds):
            run, seconds = timed(functools.partial(train_sae, batches, d, cfg))
            runs["ours"].append(run.tokens_seen / seconds)
            fvu["ours"] = evaluate_sae(run.sae, array_batches(x, 4096, shuffle=False)(0)).fvu
            if classes is not None:
                (coder, seen), seconds = timed(functools.partial(_train_sparse_coder, classes, batches, d, cfg))
                runs["sparsify"].append(seen / seconds)
                fvu["sparsify"] = evaluate_sae(_CoderView(coder), array_batches(x, 4096, shuffle=False)(0)).fvu
        med = {k: statistics.median(v) for k, v in runs.items() if v}
        line = (
            f"sae         {label}: {len(x)} tokens x {d}, {cfg.n_latents(d)} latents, k {cfg.k}, "
            f"{cfg.epochs} epochs; ours FVU {fvu['ours']:.4f}, {med['ours']:.0f} tokens/s"
        )
        if "sparsify" in med:
            line += (
                f"; SparseCoder FVU {fvu['sparsify']:.4f}, {med['sparsify']:.0f} tokens/s; "
                f"time ratio ours / SparseCoder {ratio(med['sparsify'], med['ours']):.2f}"
            )
        print(line)
    _sae_revival(classes)


def bench_tokens(tmp: Path, n_dates: int = 16, rounds: int = 3) -> None:
    """Token sink against pooled extraction alone, and SAE training streamed from the stores."""
    from aurora_xai.features.sae import SAEConfig, array_batches, train_sae
    from aurora_xai.features.split import holdout_dates
    from aurora_xai.features.tokens import TokenSample, TokenSink, TokenStream

    src = ERA5Source(str(_store(tmp)))
    model = build_model(ModelSpec.from_schema())
    taps = ("backbone", "encoder", "backbone.encoder.0", "backbone.encoder.1")
    regions = regions_from_config(REGIONS)
    times = pd.date_range("2005-01-02T06", periods=n_dates, freq="D")
    written: dict[str, int] = {}

    def with_sink(out: Path) -> None:
        with TokenSink({t: out / f"{t}.zarr" for t in taps}, TokenSample(max_tokens=16_384)) as sink:
            extract_taps(src, model, times, taps, regions, token_sink=sink, num_workers=1)
        written["tokens"] = sum(w.n_tokens for w in sink.writers.values())

    kinds = {
        "pooled": lambda: extract_taps(src, model, times, taps, regions, num_workers=1),
        "pooled + tokens": lambda: with_sink(tmp / "tokens_bench"),
    }
    extract_taps(src, model, times[:1], taps, regions, num_workers=1)  # warm up
    runs: dict[str, list[float]] = {k: [] for k in kinds}
    for r in range(rounds):
        for kind in list(kinds)[:: 1 if r % 2 == 0 else -1]:
            runs[kind].append(timed(kinds[kind])[1])
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(
        f"tokens      3 deg, tiny model, {len(taps)} taps, {n_dates} dates x {rounds} rounds: pooled "
        f"{med['pooled']:.2f} s, pooled + token sink {med['pooled + tokens']:.2f} s (ratio "
        f"{ratio(med['pooled + tokens'], med['pooled']):.2f}; target <= 1.3); {written['tokens']} tokens written, "
        f"{written['tokens'] / med['pooled + tokens']:.0f} tokens/s (extraction included)"
    )
    # SAE training from the stores (two shards: the same store twice, as two shard folders)
    shards = []
    for i, half in enumerate((times[: n_dates // 2], times[n_dates // 2 :])):
        out = tmp / f"tokens_shard{i}"
        with TokenSink({"backbone": out / "backbone.zarr"}, TokenSample(max_tokens=16_384)) as sink:
            extract_taps(src, model, half, ("backbone",), regions, token_sink=sink, num_workers=1)
        shards.append(out / "backbone.zarr")
    stream = TokenStream(shards, batch_size=1024, seed=0, keep=lambda t: ~holdout_dates(t, 5))
    x = np.concatenate(list(TokenStream(shards, 1024, keep=lambda t: ~holdout_dates(t, 5))(0)))
    d = stream.n_channels
    cfg = SAEConfig(expansion=8, k=8, epochs=2, seed=0)
    speed = {}
    for label, source in (("streamed", stream), ("in memory", array_batches(x, 1024, seed=0))):
        run, seconds = timed(functools.partial(train_sae, source, d, cfg))
        speed[label] = run.tokens_seen / seconds
    print(
        f"            SAE training ({stream.n_tokens} training tokens x {d}, {cfg.n_latents(d)} latents, k {cfg.k}, "
        f"{cfg.epochs} epochs): streamed from 2 shards {speed['streamed']:.0f} tokens/s, in memory "
        f"{speed['in memory']:.0f} tokens/s"
    )


def _write_times(ds, path: Path, first: bool) -> None:
    """Write or append ``ds`` to a WeatherBench 2-schema zarr (one time per chunk)."""
    if first:
        enc = {n: {"chunks": (1,) + ds[n].shape[1:]} for n in ds.data_vars if "time" in ds[n].dims}
        enc["time"] = {"units": "hours since 2000-01-01", "dtype": "int64"}
        ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True, encoding=enc)
    else:
        ds = ds.drop_vars([n for n in ds.data_vars if "time" not in ds[n].dims])
        ds.to_zarr(path, append_dim="time", zarr_format=2, consolidated=True)


def _wb2_store(tmp: Path, n_times: int = 72) -> Path:
    """A WeatherBench 2-schema store of >= 1 GB on disk, 1 deg, one time per chunk, compressed.

    The synthetic fields of 8 time steps (the study's 4 surface and 5 x 13 level variables
    and 4 extra surface ones), repeated over ``n_times`` 6-hourly steps with 0.1 % seeded
    multiplicative noise (so chunks differ and compress like real data), and two extra
    level variables the copy leaves behind.
    """
    from aurora_xai.data.synthetic import synthetic_dataset

    path = tmp / "wb2_1deg.zarr"
    spec = SyntheticSpec.from_schema(resolution=1.0, periods=(("2005-01-01", "2005-01-31"),))
    times = spec.times()[:n_times]
    base = synthetic_dataset(spec, times[:8])
    rng = np.random.default_rng(0)
    for start in range(0, n_times, 8):
        ds = base.isel(time=slice(0, len(times[start : start + 8]))).copy(deep=True)
        ds = ds.assign_coords(time=times[start : start + 8].values)
        for name in [n for n in ds.data_vars if "time" in ds[n].dims]:
            v = ds[name].values
            v *= 1 + 1e-3 * rng.standard_normal(v.shape, dtype=np.float32)
        t = ds["temperature"] - float(ds["temperature"].mean())
        noise = rng.standard_normal(t.shape, dtype=np.float32)
        ds["vertical_velocity"] = (t * 1e-3 * noise).assign_attrs(units="Pa s-1")
        ds["divergence"] = (t * 1e-6 * noise[::-1]).assign_attrs(units="s-1")
        _write_times(ds, path, start == 0)
    return path


def _wb2_store_quarter_degree(tmp: Path, n_times: int = 12) -> Path:
    """The study's grid (0.25 deg, 721 x 1440), one time per chunk, compressed: ``n_times``
    steps of the 9 variables the copy reads and 4 it leaves behind, and the static fields.

    Values are a plausible constant per variable plus seeded noise rounded to 2 decimals
    (random, so only memory and time are meaningful here, not the fields).
    """
    import xarray as xr

    from aurora_xai.data.variables import LEVELS, UNITS, WB2_NAMES

    path = tmp / "wb2_025deg.zarr"
    lat, lon = np.linspace(90, -90, 721), np.arange(1440) * 0.25
    typical = dict(zip(WB2_NAMES["surf"].values(), (280.0, 0.0, 0.0, 101000.0)))
    typical |= dict(zip(WB2_NAMES["atmos"].values(), (50000.0, 5.0, 0.0, 250.0, 0.005)))
    extra = {"total_precipitation_6hr": 0.001, "sea_surface_temperature": 290.0, "surface_pressure": 98000.0}
    typical |= extra | {"total_cloud_cover": 0.5}
    rng = np.random.default_rng(0)
    fields = {}
    for name, value in typical.items():
        atmos = name in WB2_NAMES["atmos"].values()
        shape = (1, len(LEVELS), 721, 1440) if atmos else (1, 721, 1440)
        noise = np.round(rng.standard_normal(shape, dtype=np.float32) * (abs(value) * 0.01 + 1), 2)
        dims = ("time", "level", "latitude", "longitude") if atmos else ("time", "latitude", "longitude")
        fields[name] = (dims, (value + noise).astype(np.float32), {"units": UNITS.get(name, "1")})
    static = {
        "geopotential_at_surface": 100.0 * rng.random((721, 1440), dtype=np.float32),
        "land_sea_mask": (rng.random((721, 1440)) > 0.7).astype(np.float32),
        "soil_type": rng.integers(0, 8, (721, 1440)).astype(np.float32),
    }
    coords = {"level": np.asarray(LEVELS, dtype=np.int64), "latitude": lat, "longitude": lon}
    for i, t in enumerate(pd.date_range("2005-01-01", periods=n_times, freq="6h")):
        data = {n: (d, a + np.float32(0.01 * i), at) for n, (d, a, at) in fields.items()}
        ds = xr.Dataset(data, coords=coords | {"time": [t]})
        for name, arr in static.items():
            ds[name] = (("latitude", "longitude"), arr, {"units": UNITS[name]})
        _write_times(ds, path, i == 0)
    return path


_COPY_CHILD = """
import json, sys, time
import pandas as pd, xarray as xr
from aurora_xai.data.subset import download_subset

def peak_rss_mb():  # the high-water mark of this process image (exec resets it, fork does not)
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024

src, dst, parallel, copy = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4] == "1"
times = pd.DatetimeIndex(xr.open_zarr(src)["time"].values)
before = peak_rss_mb()
t0, c0 = time.perf_counter(), time.process_time()
if copy:
    download_subset(src, dst, times, parallel=parallel)
out = {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "rss_before_mb": before}
print(json.dumps(out | {"max_rss_mb": peak_rss_mb()}))
"""


def _copy_in_child(src: Path, dst: Path, parallel: bool, copy: bool = True) -> dict:
    """Run one copy in a fresh Python: its wall and CPU time and its peak RSS (VmHWM)."""
    shutil.rmtree(dst, ignore_errors=True)
    args = [sys.executable, "-c", _COPY_CHILD, str(src), str(dst), "1" if parallel else "0", "1" if copy else "0"]
    out = subprocess.run(args, stdout=subprocess.PIPE, check=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


def _copy_runs(src: Path, tmp: Path, rounds: int) -> dict[str, list[dict]]:
    """Copies of ``src``, serial and with dask alternating, ``rounds`` of each."""
    runs: dict[str, list[dict]] = {"serial": [], "dask": []}
    for _ in range(rounds):
        for kind in runs:
            runs[kind].append(_copy_in_child(src, tmp / "copy.zarr", kind == "dask"))
    shutil.rmtree(tmp / "copy.zarr", ignore_errors=True)
    return runs


def _copy_summary(runs: dict[str, list[dict]], moved: float) -> dict[str, float]:
    """Median GB/s per kind and the speed-up; prints one line per kind."""
    rate = {k: moved / 1e9 / statistics.median(r["wall"] for r in v) for k, v in runs.items()}
    for kind, rs in runs.items():
        walls = ", ".join(f"{r['wall']:.1f}" for r in rs)
        print(
            f"            {kind:6s}: {rate[kind]:.3f} GB/s (wall {walls} s, CPU {statistics.median(r['cpu'] for r in rs):.1f} s);"
            f" peak RSS {max(r['max_rss_mb'] for r in rs):.0f} MB"
        )
    return rate | {"speedup": rate["dask"] / rate["serial"]}


def bench_download(tmp: Path, rounds: int = 2) -> None:
    import xarray as xr

    from aurora_xai.data.subset import default_threads
    from aurora_xai.data.variables import WB2_NAMES

    used = [*WB2_NAMES["surf"].values(), *WB2_NAMES["atmos"].values()]

    def describe(src: Path, grid: str) -> float:
        ds = xr.open_zarr(src)
        on_disk = sum(f.stat().st_size for f in src.rglob("*") if f.is_file())
        moved = sum(ds[n].nbytes for n in used)
        print(
            f"            {grid} store, {on_disk / 1e9:.2f} GB on disk ({ds.sizes['time']} times, "
            f"{len(ds.data_vars)} variables); the copy reads {len(used)} of them, {moved / 1e9:.2f} GB uncompressed"
        )
        return moved

    print(
        f"download    the copy with dask ({default_threads()} threads, blocks of 32 times) against the serial copy"
        " (blocks of 8), each in a fresh Python, alternating"
    )
    base = None
    results = {}
    for grid, build in (("0.25 deg (the study's grid)", _wb2_store_quarter_degree), ("1 deg synthetic", _wb2_store)):
        src = build(tmp)
        moved = describe(src, grid)
        base = base or _copy_in_child(src, tmp / "copy.zarr", True, copy=False)
        results[grid] = _copy_summary(_copy_runs(src, tmp, rounds), moved)
        shutil.rmtree(src)
    print(
        "            speed-up dask / serial: "
        + ", ".join(f"{r['speedup']:.2f}x at {g.split(' (')[0]}" for g, r in results.items())
        + f" (target >= 2x); a child that only imports and opens a store: {base['max_rss_mb']:.0f} MB"
    )


def _drain(items) -> None:
    """Consume an iterable, holding one item at a time."""
    for _ in items:
        pass


def _tensorstore_parts(path, cache_dir=None):
    """``open_parts`` through xarray-tensorstore (the reader WeatherBench 2 uses)."""
    import xarray_tensorstore

    return [(str(path), xarray_tensorstore.open_zarr(str(path)))]


def _open_reader(path: Path, engine: str) -> ERA5Source:
    """The project's reader on ``path`` through zarr-python (as shipped) or tensorstore."""
    import aurora_xai.data.files as readers

    if engine == "zarr-python":
        return ERA5Source(str(path))
    original = readers.open_parts
    readers.open_parts = _tensorstore_parts
    try:
        return ERA5Source(str(path))
    finally:
        readers.open_parts = original


def bench_reading(tmp: Path, n_samples: int = 4, rounds: int = 2) -> None:
    """Samples/s and MB/s of the reader against the storage libraries, at 0.25 deg.

    The store (:func:`_wb2_store_quarter_degree`: the 9 fields, 4 extra variables, the
    static fields) holds ``2 * n_samples`` 6-hourly steps; sample ``k`` is steps ``2k``
    and ``2k + 1`` (no step read twice, as the study's daily samples). Every variant reads
    the same chunks (one per variable and step, all 13 levels of a level variable), from
    the page cache (the store was just written): decompression and copies, not the disk.
    """
    import importlib.util

    import xarray as xr
    import zarr

    from aurora_xai.data.variables import WB2_NAMES
    from aurora_xai.latents.loading import sample_loader

    path = _wb2_store_quarter_degree(tmp, n_times=2 * n_samples)
    steps = pd.DatetimeIndex(xr.open_zarr(path)["time"].values)
    times = [steps[2 * k + 1] for k in range(n_samples)]
    names = [*WB2_NAMES["surf"].values(), *WB2_NAMES["atmos"].values()]
    have_ts = all(importlib.util.find_spec(m) is not None for m in ("tensorstore", "xarray_tensorstore"))
    sources = {"zarr-python": _open_reader(path, "zarr-python")}
    mb = sources["zarr-python"].bytes_needed() / 1e6

    def run_rounds(variants: dict, runs: dict) -> None:
        for _ in range(rounds):
            for name, fn in variants.items():
                runs.setdefault(name, []).append(timed(fn)[1])

    group = zarr.open_group(str(path), mode="r")
    zarrays = {n: group[n] for n in names}

    def direct_zarr() -> None:
        for k in range(n_samples):
            for n in names:
                np.asarray(zarrays[n][2 * k : 2 * k + 2])

    # zarr-python only first, with the reader processes: tensorstore aborts any process
    # forked after it started its threads
    runs: dict[str, list[float]] = {}
    phase1 = {
        "zarr-python direct": direct_zarr,
        "reader (zarr-python)": functools.partial(lambda s: _drain(s.batch(t) for t in times), sources["zarr-python"]),
        **{
            f"loader, {w} process{'es' if w > 1 else ''}": functools.partial(
                lambda w: _drain(sample_loader(sources["zarr-python"], times, num_workers=w)), w
            )
            for w in (1, 2)
        },
    }
    run_rounds(phase1, runs)
    if have_ts:
        import tensorstore as ts

        sources["tensorstore"] = _open_reader(path, "tensorstore")
        spec = {"driver": "zarr", "kvstore": {"driver": "file"}}
        tsarrays = {n: ts.open(spec | {"kvstore": {"driver": "file", "path": str(path / n)}}).result() for n in names}

        def direct_ts() -> None:
            for k in range(n_samples):
                for f in [tsarrays[n][2 * k : 2 * k + 2].read() for n in names]:
                    f.result()

        phase2 = {
            "zarr-python direct (2)": direct_zarr,
            "tensorstore direct": direct_ts,
            "reader (zarr-python) (2)": phase1["reader (zarr-python)"],
            "reader (tensorstore)": functools.partial(
                lambda s: _drain(s.batch(t) for t in times), sources["tensorstore"]
            ),
        }
        run_rounds(phase2, runs)
    med = {k: statistics.median(v) / n_samples for k, v in runs.items()}
    on_disk = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    print(
        f"reading     0.25 deg WeatherBench 2-schema zarr v2 (Blosc lz4), {len(steps)} steps, "
        f"{len(xr.open_zarr(path).data_vars)} variables, {on_disk / 1e9:.2f} GB on disk; a sample is "
        f"{mb:.0f} MB (9 fields x 2 steps); {n_samples} samples x {rounds} rounds, page cache warm"
    )
    for name, sec in med.items():
        print(f"            {name:26s} {sec:6.2f} s per sample, {mb / sec:6.0f} MB/s")
    reader = ratio(med["reader (zarr-python)"], med["zarr-python direct"])
    print(f"            reader (zarr-python) / zarr-python direct: {reader:.2f} (target <= 1.3)")
    if have_ts:
        reader = ratio(med["reader (tensorstore)"], med["tensorstore direct"])
        print(f"            reader (tensorstore) / tensorstore direct: {reader:.2f}")
        print(
            "            tensorstore / zarr-python (same rounds): reader "
            f"{ratio(med['reader (tensorstore)'], med['reader (zarr-python) (2)']):.2f}, direct "
            f"{ratio(med['tensorstore direct'], med['zarr-python direct (2)']):.2f} (below 1: tensorstore faster)"
        )
    one, two = med["loader, 1 process"], med["loader, 2 processes"]
    print(
        f"            loader (zarr-python): {mb / one:.0f} MB/s with 1 process, {mb / two / 2:.0f} MB/s per process "
        f"with 2 (scaling {one / two:.2f}x on {os.cpu_count()} shared cores); 15 processes at {mb / one:.0f} MB/s "
        f"each would read {15 / one:.1f} samples/s"
    )
    shutil.rmtree(path)


def _relative(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``(||b - a|| / ||a||, max |b - a| / max |a|)``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(b - a) / np.linalg.norm(a)), float(np.abs(b - a).max() / np.abs(a).max())


def bench_bf16(tmp: Path) -> None:
    """bf16 autocast (``model.autocast: true``) against float32 on this machine's device.

    Pooled features of every tap over the globe (the tiny model at 3 deg, 4 dates; the
    small architecture with activated modulation at 1 deg, one date) and the relevance
    of the tiny model (``compute_relevance``, CP-LRP of an msl target over Europe).
    """
    from aurora_xai.attribution.methods import compute_relevance
    from aurora_xai.attribution.targets import ForecastTarget
    from aurora_xai.latents.taps import TAPS
    from aurora_xai.model import activate_modulation
    from aurora_xai.regions import Region

    device = "cuda" if torch.cuda.is_available() else "cpu"
    regions = regions_from_config({"globe": dict(lat_min=-90, lat_max=90, lon_min=0, lon_max=360)})
    cases = {
        "tiny, 3 deg": (ModelSpec.from_schema(), _store(tmp), 4),
        "small architecture, 1 deg": (
            ModelSpec.from_schema(name="small-pretrained", random_weights=True),
            _store_1deg(tmp),
            1,
        ),
    }
    for label, (spec, store, n) in cases.items():
        src = ERA5Source(str(store))
        times = pd.date_range("2005-01-02T06", periods=n, freq="D")
        out, secs = {}, {}
        for flag in (False, True):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)  # the same random weights for both (tiny seeds itself)
                model = build_model(dataclasses.replace(spec, autocast=flag), device=device)
            if spec.name != "tiny":
                activate_modulation(model, seed=1)  # a backbone that acts (see activate_modulation)
            extract_taps(src, model, times[:1], TAPS, regions, device=device)  # warm-up
            try:
                out[flag], seconds = timed(
                    functools.partial(extract_taps, src, model, times, TAPS, regions, device=device), device
                )
            except RuntimeError as err:  # autocast not supported on this device
                print(f"bf16        {label}: autocast failed on {device}: {err}")
                break
            secs[flag] = seconds / n
        else:
            diffs = ", ".join(
                "{} {:.2g}/{:.2g}".format(
                    tap, *_relative(out[False][tap]["pooled"].values, out[True][tap]["pooled"].values)
                )
                for tap in TAPS
            )
            print(
                f"bf16        {label}, pooled features on {device}, relative difference (norm/max) against float32: "
                f"{diffs}; per date {secs[False]:.2f} s float32, {secs[True]:.2f} s bf16"
            )
    src = ERA5Source(str(_store(tmp)))
    batch = src.batch(pd.Timestamp("2005-01-10T06"))
    target = ForecastTarget("msl", region=Region("europe", 30, 72, 348, 45))
    rel = {
        flag: compute_relevance(build_model(ModelSpec.from_schema(autocast=flag), device=device), batch, target)
        for flag in (False, True)
    }
    diffs = ", ".join(
        "{} {:.2g}/{:.2g}".format(v, *_relative(rel[False][v].values, rel[True][v].values)) for v in ("msl", "t", "z")
    )
    print(
        f"bf16        relevance (tiny, CP-LRP, msl over Europe) with autocast against without (norm/max): {diffs} "
        "(compute_relevance switches autocast off: LRP runs in the parameters' dtype)"
    )


def bench_surrogate(tmp: Path, n_steps: int = 10, rounds: int = 3) -> None:
    from aurora_xai.surrogate.samples import read_samples, training_times
    from aurora_xai.surrogate.settings import SurrogateSettings
    from aurora_xai.surrogate.train import train_surrogate

    default = load_config(Path(__file__).resolve().parents[1] / "config" / "config.yaml")["surrogate"]
    sec = {**default, "train_period": ["2005-01-01", "2005-01-20"], "steps": n_steps, "checkpoint_every": n_steps}
    settings = SurrogateSettings.from_config(sec)
    src = ERA5Source(str(_store(tmp)))
    step = pd.Timedelta(hours=6)
    model = build_model(ModelSpec.from_schema(name="surrogate", random_weights=True))
    sample = read_samples(src, training_times(src, settings, step)[: settings.batch_size], step)

    def forwards() -> None:
        with torch.no_grad():
            for _ in range(n_steps):
                model(sample.inputs)

    runs: dict[str, list[float]] = {"step": [], "forward": []}
    for r in range(rounds):  # interleaved
        result = train_surrogate(src, settings, tmp / f"surrogate_state_{r}.pt")
        runs["step"].append(result.seconds / result.steps_done)
        runs["forward"].append(timed(forwards)[1] / n_steps)
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(
        f"surrogate   61 x 120, 13 levels, {settings.batch_size} samples a step: training step {med['step']:.3f} s "
        f"({1 / med['step']:.2f} steps/s), no-grad forward {med['forward']:.3f} s; step / forward "
        f"{ratio(med['step'], med['forward']):.2f}; the default's {default['steps']} steps: "
        f"~{default['steps'] * med['step']:.0f} s (target: about 3 minutes)"
    )


SECTIONS = {
    "extraction": lambda tmp: bench_extraction(tmp),
    "reading": lambda tmp: bench_reading(tmp),
    "bf16": lambda tmp: bench_bf16(tmp),
    "bytes": lambda tmp: bench_bytes(tmp),
    "bootstrap": lambda tmp: bench_bootstrap(),
    "lrp": lambda tmp: bench_lrp(),
    "lrp_memory": lambda tmp: bench_lrp_memory(),
    "masks": lambda tmp: bench_masks(tmp),
    "sae": lambda tmp: bench_sae(tmp),
    "tokens": lambda tmp: bench_tokens(tmp),
    "download": lambda tmp: bench_download(tmp),
    "surrogate": lambda tmp: bench_surrogate(tmp),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sections", nargs="*", choices=[*SECTIONS, []], help="sections to run (default: all)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--memory-cap-gb", type=float, default=16.0, help="lrp_memory: RSS cap of each pass")
    parser.add_argument("--levels", default="", help="lrp_memory: checkpointing levels, comma-separated (default: all)")
    parser.add_argument(
        "--grids", default="", help="lrp_memory: grids, comma-separated from '1 deg,0.5 deg,0.25 deg' (default: all)"
    )
    args = parser.parse_args(argv)
    from aurora_xai.attribution.patching import CHECKPOINTING_LEVELS

    levels = [v.strip() for v in args.levels.split(",") if v.strip()]
    grids = [v.strip() for v in args.grids.split(",") if v.strip()]
    bad = [v for v in levels if v not in CHECKPOINTING_LEVELS] + [
        g for g in grids if g not in {label for label, _, _ in LRP_MEMORY_GRIDS}
    ]
    if bad:
        parser.error(
            f"unknown --levels/--grids value(s) {bad}: levels {list(CHECKPOINTING_LEVELS)}, "
            f"grids {[label for label, _, _ in LRP_MEMORY_GRIDS]}"
        )
    SECTIONS["lrp_memory"] = lambda tmp: bench_lrp_memory(args.memory_cap_gb, args.threads, levels, grids)
    torch.set_num_threads(args.threads)
    np.random.seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sections or SECTIONS:
            SECTIONS[name](Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
