"""Side-by-side benchmarks of the project's speed and memory targets.

Each section measures two things in the same process, interleaved, and prints their
ratio (these machines are noisy: compare ratios, not absolute times).

    python tools/benchmark.py            # every section
    python tools/benchmark.py extraction bytes

Sections:
  extraction  wall time per date of the extraction (read + forward + tap + pool) against
              the bare model forward on the same input (target: overhead <= 15 %)
  bytes       bytes read from the store per sample against the bytes the sample needs,
              on a synthetic store with extra variables (target: <= 1.1x)
  bootstrap   1000 bootstrap PCAs at the study's size, fast path against the naive loop
  lrp         LRP time and peak memory against a plain forward (target: <= 4x time)
  masks       perturbation masks per second, batched against one mask per forward
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from aurora_xai.data.era5 import ERA5Source
from aurora_xai.data.synthetic import SyntheticSpec, write_synthetic_store
from aurora_xai.extract import extract_pooled
from aurora_xai.model import ModelSpec, build_model
from aurora_xai.regions import regions_from_config

REGIONS = {"us": dict(lat_min=24, lat_max=50, lon_min=235, lon_max=295), "europe": dict(lat_min=30, lat_max=72, lon_min=348, lon_max=45)}


def _store(tmp: Path, compress: bool = True) -> Path:
    path = tmp / ("store.zarr" if compress else "store_raw.zarr")
    if not path.exists():
        write_synthetic_store(SyntheticSpec(periods=(("2005-01-01", "2005-01-31"),), compress=compress), path)
    return path


def bench_extraction(tmp: Path, n_dates: int = 24, rounds: int = 5) -> None:
    src = ERA5Source(str(_store(tmp)))
    model = build_model(ModelSpec())
    regions = regions_from_config(REGIONS)
    times = pd.date_range("2005-01-02T06", periods=n_dates, freq="D")
    batches = [src.batch(t) for t in times]
    extract_pooled(src, model, times[:2], "backbone", regions)  # warm-up
    ext, bare = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        extract_pooled(src, model, times, "backbone", regions)
        ext.append((time.perf_counter() - t0) / n_dates)
        t0 = time.perf_counter()
        with torch.inference_mode():
            for b in batches:
                model(b)
        bare.append((time.perf_counter() - t0) / n_dates)
    ratios = [e / b for e, b in zip(ext, bare)]
    print(f"extraction  per date: extraction {statistics.median(ext) * 1e3:.1f} ms, bare forward "
          f"{statistics.median(bare) * 1e3:.1f} ms; ratio median {statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f}); overhead {100 * (statistics.median(ratios) - 1):.1f} % "
          f"(target <= 15 %)")


def bench_bytes(tmp: Path) -> None:
    from aurora_xai.data.era5 import measure_read_bytes

    src = ERA5Source(str(_store(tmp, compress=False)))
    read, needed = measure_read_bytes(src, pd.Timestamp("2005-01-10T06"))
    print(f"bytes       per sample: read {read / 1e6:.2f} MB, needed {needed / 1e6:.2f} MB; ratio {read / needed:.3f} (target <= 1.1)")


def bench_bootstrap() -> None:
    from aurora_xai.regimes.bootstrap import benchmark_bootstrap

    r = benchmark_bootstrap(n=365, p=3000, n_boot=1000)
    print(f"bootstrap   365 x 3000, N=1000: fast {r['fast_s']:.2f} s, naive (extrapolated from {r.get('n_naive', 5)}) "
          f"{r['naive_s_extrapolated']:.1f} s; speed-up {r['speedup']:.1f}x")


def bench_lrp() -> None:
    from aurora_xai.attribution import ForecastTarget, benchmark_lrp
    from aurora_xai.attribution._testing import synthetic_batch, tiny_lrp_model
    from aurora_xai.regions import Region

    model = tiny_lrp_model(dtype=torch.float32, bias_std=0.0)
    batch = synthetic_batch(nlat=61, nlon=120, levels=(50, 100, 150, 200, 250, 300, 400, 500, 600, 700, 850, 925, 1000), dtype=torch.float32)
    r = benchmark_lrp(model, batch, ForecastTarget("msl", region=Region("europe", 30, 72, 348, 45)))
    keys = ", ".join(f"{k} {v:.4g}" for k, v in r.items() if isinstance(v, (int, float)))
    print(f"lrp         61 x 120, 13 levels: {keys}")


def bench_masks(tmp: Path, n_masks: int = 32, batch_size: int = 8) -> None:
    from aurora_xai.perturbation import benchmark_batched_masks

    src = ERA5Source(str(_store(tmp)))
    model = build_model(ModelSpec())
    batch = src.batch(pd.Timestamp("2005-01-10T06"))
    rng = np.random.default_rng(0)
    masks = rng.random((n_masks, len(src.lat), len(src.lon))) < 0.01
    r = benchmark_batched_masks(model, batch, masks, batch_size=batch_size, repeats=5)
    print(f"masks       {n_masks} masks: batched (x{batch_size}) {r['masks_per_s_batched']:.1f}/s, one per pass "
          f"{r['masks_per_s_single']:.1f}/s; speed-up {r['speedup']:.2f}x (medians of {r['repeats']} alternating runs)")


SECTIONS = {
    "extraction": lambda tmp: bench_extraction(tmp),
    "bytes": lambda tmp: bench_bytes(tmp),
    "bootstrap": lambda tmp: bench_bootstrap(),
    "lrp": lambda tmp: bench_lrp(),
    "masks": lambda tmp: bench_masks(tmp),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sections", nargs="*", choices=[*SECTIONS, []], help="sections to run (default: all)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    np.random.seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sections or SECTIONS:
            SECTIONS[name](Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
